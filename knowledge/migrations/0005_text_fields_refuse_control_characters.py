import django.core.validators
from django.db import migrations, models


# The fields' type now refuses control characters itself (kefu.fields.Input*Field), so the
# validator they named one by one goes; the columns do not change.
TYPED_TEXT = [
    ('knowledgeitem', 'answer', models.TextField(validators=[django.core.validators.MaxLengthValidator(20000)], verbose_name='answer')),
    ('knowledgeitem', 'category', models.CharField(blank=True, max_length=100, verbose_name='category')),
    ('knowledgeitem', 'external_id', models.CharField(blank=True, help_text='The id the item has in an imported file; kept so an export imports back unchanged.', max_length=100, verbose_name='external id')),
    ('knowledgeitem', 'question', models.CharField(max_length=500, verbose_name='question')),
    ('similarquestion', 'text', models.CharField(max_length=500, verbose_name='text')),
]


class Migration(migrations.Migration):

    dependencies = [
        ('knowledge', '0004_answer_max_length'),
    ]

    operations = [migrations.AlterField(model_name=model, name=name, field=field) for model, name, field in TYPED_TEXT]
