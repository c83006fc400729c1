// Palisade website widget. Paste on a page of a site the bot allows:
//   <script src="https://HOST/widget.js" data-bot="bot_…" async></script>
// It draws a launcher button and, when opened, the bot's chat in an iframe
// served by Palisade. It adds no inline script or style (styles are set
// through the DOM), so it works under the page's own strict CSP; the page
// must allow this host in script-src and frame-src.
(function () {
  'use strict';

  var script = document.currentScript;
  if (!script) {
    return;
  }
  var bot = script.getAttribute('data-bot') || '';
  if (!/^bot_[a-z2-7]{26}$/.test(bot)) {
    console.error('Palisade widget: data-bot must be a bot id (bot_…).');
    return;
  }
  var base = new URL(script.src, document.baseURI).origin;
  var label = script.getAttribute('data-label') || 'Chat';

  function css(el, rules) {
    Object.keys(rules).forEach(function (k) {
      el.style.setProperty(k, rules[k]);
    });
  }

  function mount() {
    var host = document.createElement('div');
    host.setAttribute('data-palisade-widget', bot);
    css(host, { position: 'fixed', right: '20px', bottom: '20px', 'z-index': '2147483000' });

    var frame = null;
    var button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('data-palisade-launcher', '');
    css(button, {
      display: 'block', 'margin-left': 'auto', padding: '12px 18px', border: '0', 'border-radius': '24px',
      background: '#1d4ed8', color: '#fff', font: '600 15px system-ui, sans-serif', cursor: 'pointer',
      'box-shadow': '0 4px 14px rgba(0,0,0,.25)'
    });

    button.addEventListener('click', function () {
      if (!frame) {
        frame = document.createElement('iframe');
        frame.src = base + '/widget/' + bot;
        frame.title = label;
        frame.setAttribute('data-palisade-frame', '');
        css(frame, {
          display: 'block', width: '360px', height: '520px', 'max-width': 'calc(100vw - 40px)',
          'max-height': 'calc(100vh - 100px)', border: '0', 'border-radius': '12px', 'margin-bottom': '12px',
          background: '#fff', 'box-shadow': '0 8px 30px rgba(0,0,0,.3)'
        });
        host.insertBefore(frame, button);
        button.setAttribute('aria-expanded', 'true');
        return;
      }
      var open = frame.style.display !== 'none';
      frame.style.setProperty('display', open ? 'none' : 'block');
      button.setAttribute('aria-expanded', open ? 'false' : 'true');
    });

    host.appendChild(button);
    document.body.appendChild(host);
  }

  if (document.body) {
    mount();
  } else {
    document.addEventListener('DOMContentLoaded', mount);
  }
}());
