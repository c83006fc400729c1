// The admin UI's only script: copy buttons and the streaming preview
// chat. A button with data-copy="ID" copies the text of the element with
// that id; the preview form (#try-form) streams its answer instead of
// reloading the page. Loaded from this origin (script-src 'self'); no
// inline script anywhere, and every page works without it.
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

  var form = document.getElementById('try-form');
  if (form && window.fetch && window.TextDecoder && window.ReadableStream) {
    form.addEventListener('submit', function (ev) {
      var box = document.getElementById('try-message');
      var question = box.value.trim();
      if (!question || form.getAttribute('data-busy') === 'true') {
        return;
      }
      ev.preventDefault();
      ask(form, box, question);
    });
  }

  function line(log, role, label, text) {
    var li = document.createElement('li');
    li.className = 'msg ' + role;
    var who = document.createElement('span');
    who.className = 'role';
    who.textContent = label;
    li.appendChild(who);
    var body = document.createElement('span');
    body.className = 'body';
    body.textContent = text;
    li.appendChild(body);
    log.appendChild(li);
    return li;
  }

  function ask(form, box, question) {
    var log = document.getElementById('chat-log');
    var empty = document.getElementById('chat-empty');
    if (empty) {
      empty.remove();
    }
    var old = document.getElementById('last-sources');
    if (old) {
      old.remove();
    }
    var body = new URLSearchParams(new FormData(form));
    line(log, 'user', 'You', question);
    var answer = line(log, 'assistant', form.getAttribute('data-bot-name'), '');
    var text = answer.querySelector('.body');
    answer.setAttribute('aria-busy', 'true');
    form.setAttribute('data-busy', 'true');
    box.value = '';
    fetch(form.getAttribute('data-stream'), {
      method: 'POST', body: body, credentials: 'same-origin',
      headers: {'Accept': 'text/event-stream'}
    }).then(function (res) {
      var type = res.headers.get('Content-Type') || '';
      if (!res.ok || type.indexOf('text/event-stream') !== 0) {
        // Let the server render the refusal as a page.
        box.value = question;
        form.setAttribute('data-busy', 'true');
        form.submit();
        return null;
      }
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buf = '';
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            return;
          }
          buf += decoder.decode(chunk.value, {stream: true});
          var at;
          while ((at = buf.indexOf('\n\n')) >= 0) {
            handle(buf.slice(0, at));
            buf = buf.slice(at + 2);
          }
          return pump();
        });
      }
      function handle(block) {
        var event = 'message', data = '';
        block.split('\n').forEach(function (l) {
          if (l.indexOf('event: ') === 0) {
            event = l.slice(7);
          } else if (l.indexOf('data: ') === 0) {
            data += l.slice(6);
          }
        });
        var v = data ? JSON.parse(data) : {};
        if (event === 'delta') {
          text.textContent += v.t;
        } else if (event === 'done') {
          answer.setAttribute('data-done', 'true');
          sources(answer, v.sources || []);
        } else if (event === 'error') {
          answer.classList.add('error');
          text.textContent = v.message;
          answer.setAttribute('data-done', 'true');
        }
      }
      return pump();
    }).catch(function () {
      answer.classList.add('error');
      text.textContent = 'The connection failed; try again.';
    }).then(function () {
      answer.removeAttribute('aria-busy');
      form.removeAttribute('data-busy');
    });
  }

  function sources(answer, list) {
    if (!list.length) {
      return;
    }
    var title = document.createElement('span');
    title.className = 'role';
    title.textContent = 'Sources';
    var ol = document.createElement('ol');
    ol.className = 'sources';
    list.forEach(function (s) {
      var li = document.createElement('li');
      var strong = document.createElement('strong');
      strong.textContent = s.title;
      li.appendChild(strong);
      li.appendChild(document.createTextNode(': ' + s.excerpt));
      ol.appendChild(li);
    });
    answer.appendChild(title);
    answer.appendChild(ol);
  }
}());
