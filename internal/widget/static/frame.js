// The widget frame: starts a session bound to the embedding site, keeps it
// across page loads (localStorage of this frame's own origin), and streams
// answers (server-sent events over fetch) with their sources. No inline
// script or style; everything is written with textContent.
(function () {
  'use strict';

  var root = document.getElementById('palisade-widget');
  var form = document.getElementById('ask');
  if (!root || !form) {
    return;
  }
  var bot = root.getAttribute('data-bot');
  var ticket = root.getAttribute('data-ticket');
  var log = document.getElementById('log');
  var status = document.getElementById('status');
  var input = document.getElementById('message');
  var button = form.querySelector('button');
  var tokenKey = 'palisade.widget.' + bot + '.token';
  var logKey = 'palisade.widget.' + bot + '.log';
  var maxLog = 50;
  var token = '';
  var starting = null;

  function load(key) {
    try {
      return window.localStorage.getItem(key) || '';
    } catch (e) {
      return '';
    }
  }

  function store(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (e) {
      // Storage may be blocked; the session then lasts this page only.
    }
  }

  // The site showing this frame, as the browser reports it (Chromium and
  // Safari); the server checks it against what the frame load said.
  function ancestor() {
    var a = window.location.ancestorOrigins;
    if (a && a.length > 0 && a[0] !== 'null') {
      return a[0];
    }
    return '';
  }

  function say(text) {
    status.textContent = text;
  }

  function problem(res) {
    return res.json().then(function (body) {
      var msg = body && body.error && body.error.message ? body.error.message : 'The chat is unavailable.';
      var err = new Error(msg);
      err.status = res.status;
      err.retryAfter = res.headers.get('Retry-After');
      return err;
    }, function () {
      var err = new Error('The chat is unavailable (' + res.status + ').');
      err.status = res.status;
      return err;
    });
  }

  function startSession() {
    if (starting) {
      return starting;
    }
    starting = fetch('/widget/' + encodeURIComponent(bot) + '/session', {
      method: 'POST',
      credentials: 'omit',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ticket: ticket, ancestor_origin: ancestor(), previous_token: load(tokenKey) })
    }).then(function (res) {
      if (!res.ok) {
        return problem(res).then(function (err) { throw err; });
      }
      return res.json();
    }).then(function (s) {
      token = s.token;
      store(tokenKey, token);
      root.setAttribute('data-session', 'ready');
      return s;
    }).finally(function () {
      starting = null;
    });
    return starting;
  }

  function saved() {
    try {
      var list = JSON.parse(load(logKey) || '[]');
      return Array.isArray(list) ? list : [];
    } catch (e) {
      return [];
    }
  }

  function remember(entry) {
    var list = saved();
    list.push(entry);
    store(logKey, JSON.stringify(list.slice(-maxLog)));
  }

  function render(entry) {
    var li = document.createElement('li');
    li.className = entry.role;
    var p = document.createElement('p');
    p.className = 'text';
    p.textContent = entry.text;
    li.appendChild(p);
    if (entry.sources && entry.sources.length) {
      showSources(li, entry.sources);
    }
    log.appendChild(li);
    li.scrollIntoView({ block: 'end' });
    return li;
  }

  function showSources(li, sources) {
    var h = document.createElement('p');
    h.className = 'sources-title';
    h.textContent = 'Sources';
    var ul = document.createElement('ul');
    ul.className = 'sources';
    sources.forEach(function (s) {
      var item = document.createElement('li');
      var title = document.createElement('strong');
      title.textContent = s.title;
      item.appendChild(title);
      if (s.excerpt) {
        item.appendChild(document.createTextNode(' — ' + s.excerpt));
      }
      ul.appendChild(item);
    });
    li.appendChild(h);
    li.appendChild(ul);
  }

  // Reads a text/event-stream body and calls onEvent(name, data) per event.
  function readEvents(res, onEvent) {
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buf = '';
    function dispatch(block) {
      var name = 'message';
      var data = [];
      block.split('\n').forEach(function (line) {
        if (line.indexOf('event:') === 0) {
          name = line.slice(6).trim();
        } else if (line.indexOf('data:') === 0) {
          data.push(line.slice(5).replace(/^ /, ''));
        }
      });
      if (data.length) {
        onEvent(name, JSON.parse(data.join('\n')));
      }
    }
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) {
          if (buf.trim()) {
            dispatch(buf);
          }
          return;
        }
        buf += decoder.decode(r.value, { stream: true }).replace(/\r\n/g, '\n');
        var i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          dispatch(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
        return pump();
      });
    }
    return pump();
  }

  function post(text) {
    return fetch('/widget/' + encodeURIComponent(bot) + '/messages', {
      method: 'POST',
      credentials: 'omit',
      headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + token },
      body: JSON.stringify({ message: text })
    });
  }

  function send(text) {
    var entry = { role: 'user', text: text };
    render(entry);
    remember(entry);
    var answer = render({ role: 'assistant', text: '' });
    answer.setAttribute('aria-busy', 'true');
    var body = answer.querySelector('.text');
    say('…');
    return (token ? Promise.resolve() : startSession()).then(function () {
      return post(text);
    }).then(function (res) {
      if (res.status === 401) {
        // The token expired: a new one keeps the same session.
        return startSession().then(function () { return post(text); });
      }
      return res;
    }).then(function (res) {
      if (!res.ok) {
        return problem(res).then(function (err) { throw err; });
      }
      var streamed = '';
      var failed = null;
      return readEvents(res, function (name, data) {
        if (name === 'delta') {
          streamed += data.text;
          body.textContent = streamed;
        } else if (name === 'done') {
          body.textContent = data.reply;
          if (data.sources && data.sources.length) {
            showSources(answer, data.sources);
          }
          remember({ role: 'assistant', text: data.reply, sources: data.sources });
        } else if (name === 'error') {
          failed = new Error(data.message || 'The answer failed.');
        }
      }).then(function () {
        if (failed) {
          throw failed;
        }
      });
    }).then(function () {
      answer.removeAttribute('aria-busy');
      answer.setAttribute('data-done', 'true');
      say('');
    }, function (err) {
      answer.remove();
      var msg = err.message;
      if (err.status === 429 && err.retryAfter) {
        msg = 'Too many messages; try again in ' + err.retryAfter + ' seconds.';
      }
      say(msg);
    });
  }

  saved().forEach(render);
  startSession().then(function () {
    say('');
  }, function (err) {
    root.setAttribute('data-session', 'refused');
    button.disabled = true;
    say(err.message);
  });

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) {
      return;
    }
    if (text.length > 4000) {
      say('Your message is longer than 4,000 characters.');
      return;
    }
    input.value = '';
    button.disabled = true;
    send(text).finally(function () {
      button.disabled = false;
      input.focus();
    });
  });

  input.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && !ev.shiftKey) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
}());
