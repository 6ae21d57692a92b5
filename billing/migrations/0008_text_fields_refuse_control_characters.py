from django.db import migrations, models


# The fields' type now refuses control characters itself (kefu.fields.Input*Field), so the
# validator they named one by one goes; the columns do not change.
TYPED_TEXT = [
    ('aimodel', 'code', models.CharField(help_text="The name sent to the provider's API.", max_length=150, verbose_name='model code')),
    ('aimodel', 'name', models.CharField(blank=True, max_length=150, verbose_name='display name')),
    ('modelconfig', 'base_url', models.URLField(blank=True, help_text="Empty: the provider's.", max_length=300, verbose_name='base URL')),
    ('modelconfig', 'model_code', models.CharField(help_text='Sent to the API; the catalogue row is found or created from it.', max_length=150, verbose_name='model code')),
    ('modelconfig', 'name', models.CharField(max_length=100, verbose_name='name')),
    ('modelpricing', 'note', models.CharField(blank=True, max_length=200, verbose_name='note')),
    ('provider', 'default_base_url', models.URLField(blank=True, max_length=300, verbose_name='default base URL')),
    ('provider', 'name', models.CharField(max_length=100, verbose_name='name')),
    ('provider', 'website', models.URLField(blank=True, max_length=300, verbose_name='website')),
]


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0007_text_without_control_characters'),
    ]

    operations = [migrations.AlterField(model_name=model, name=name, field=field) for model, name, field in TYPED_TEXT]
