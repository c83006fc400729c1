// The admin UI's only script: copy buttons. A button with data-copy="ID"
// copies the text of the element with that id. Loaded from this origin
// (script-src 'self'); no inline script anywhere.
(function () {
  'use strict';

  function copied(button, text) {
    var label = button.textContent;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.addEventListener('click', function () {
      var source = document.getElementById(button.getAttribute('data-copy'));
      if (!source) {
        return;
      }
      var text = source.textContent;
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () {
          copied(button, 'Copied');
        }, function () {
          selectText(source);
          copied(button, 'Press Ctrl+C to copy');
        });
        return;
      }
      selectText(source);
      copied(button, 'Press Ctrl+C to copy');
    });
  });

  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
}());
