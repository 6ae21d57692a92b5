/* The review page: insert a reply template by its code at the cursor of the reply box. */
(function () {
  "use strict";
  var data = document.getElementById("reply-templates");
  var box = document.getElementById("id_text");
  var code = document.getElementById("template-code");
  var button = document.getElementById("insert-template");
  var error = document.getElementById("template-error");
  if (!data || !box || !code || !button) {
    return;
  }
  var templates = JSON.parse(data.textContent);

  function insert() {
    var wanted = code.value.trim();
    var template = templates[wanted];
    error.hidden = Boolean(template);
    if (!template) {
      return;
    }
    var start = box.selectionStart === undefined ? box.value.length : box.selectionStart;
    var end = box.selectionEnd === undefined ? box.value.length : box.selectionEnd;
    box.value = box.value.slice(0, start) + template.text + box.value.slice(end);
    var caret = start + template.text.length;
    box.focus();
    box.setSelectionRange(caret, caret);
    code.value = "";
  }

  button.addEventListener("click", insert);
  code.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault(); /* Enter inserts; it never submits the decision */
      insert();
    }
  });
})();
