/* cxcore kiosk: a touch-screen survey that keeps working offline.
 *
 * Answers are queued in IndexedDB, each with an id made here that the server
 * uses as its idempotency key, and delivered on reconnect, on a timer and on the
 * next tap. One tab at a time delivers (the Web Locks API), and an item leaves
 * the queue only once the server has answered for it, so no answer is sent by
 * two tabs. A 4xx for an item takes it out of the queue and reports it; a 5xx or
 * a network error keeps it, and it is tried again later, each time later.
 * Plain JavaScript, no build step.
 */
(function () {
  'use strict';

  var DB_NAME = 'cxcore-kiosk';
  var LOCK = 'cxcore-kiosk-flush';
  var BATCH = 100;
  var KEEP_DROPPED = 200;
  var params = new URLSearchParams(location.search);
  function setting(name, fallback, low, high) {
    var value = Number(params.get(name));
    return value >= low && value <= high ? value : fallback;
  }
  var IDLE_MS = setting('idle', 45, 2, 3600) * 1000;
  var THANKS_MS = setting('thanks', 4, 1, 60) * 1000;
  var FLUSH_MS = setting('flush', 15, 1, 3600) * 1000;
  var BEAT_MS = setting('beat', 60, 1, 3600) * 1000;
  var BACKOFF_MS = setting('backoff', 2, 0.1, 600) * 1000;
  var MAX_BACKOFF_MS = 5 * 60 * 1000;

  var api = function (path) { return new URL('api/' + path, new URL('./', location.href)).href; };
  var $ = function (id) { return document.getElementById(id); };

  // -- IndexedDB ------------------------------------------------------------------

  var dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var open = indexedDB.open(DB_NAME, 1);
        open.onupgradeneeded = function () {
          var d = open.result;
          d.createObjectStore('queue', { keyPath: 'key' }).createIndex('added', 'added');
          d.createObjectStore('settings');
          d.createObjectStore('dropped', { keyPath: 'key' }).createIndex('at', 'at');
        };
        open.onsuccess = function () { resolve(open.result); };
        open.onerror = function () { reject(open.error); };
      });
    }
    return dbPromise;
  }

  function run(stores, mode, work) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var tx = d.transaction(stores, mode);
        var result;
        tx.oncomplete = function () { resolve(result); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error); };
        work(tx, function (value) { result = value; });
      });
    });
  }

  function request(req, done) { req.onsuccess = function () { done(req.result); }; }

  var store = {
    get: function (key) {
      return run(['settings'], 'readonly', function (tx, set) {
        request(tx.objectStore('settings').get(key), set);
      });
    },
    put: function (key, value) {
      return run(['settings'], 'readwrite', function (tx) { tx.objectStore('settings').put(value, key); });
    },
    queued: function () {
      return run(['queue'], 'readonly', function (tx, set) {
        request(tx.objectStore('queue').index('added').getAll(), set);
      });
    },
    count: function () {
      return run(['queue'], 'readonly', function (tx, set) { request(tx.objectStore('queue').count(), set); });
    },
    add: function (record) {
      return run(['queue'], 'readwrite', function (tx) { tx.objectStore('queue').add(record); });
    },
    settle: function (done, dropped, later, lastAnswerAt) {
      // One transaction: delivered and refused items leave, refused ones are kept as a report.
      return run(['queue', 'dropped', 'settings'], 'readwrite', function (tx) {
        var queue = tx.objectStore('queue');
        if (lastAnswerAt) { tx.objectStore('settings').put(lastAnswerAt, 'last_answer_at'); }
        done.forEach(function (key) { queue.delete(key); });
        dropped.forEach(function (report) {
          queue.delete(report.key);
          tx.objectStore('dropped').put(report);
        });
        later.forEach(function (record) { queue.put(record); });
        if (dropped.length) {
          // The reports kept on the device: the latest KEEP_DROPPED, oldest out first.
          var reports = tx.objectStore('dropped');
          request(reports.count(), function (n) {
            if (n <= KEEP_DROPPED) { return; }
            var extra = n - KEEP_DROPPED;
            reports.index('at').openCursor().onsuccess = function (event) {
              var cursor = event.target.result;
              if (cursor && extra > 0) { cursor.delete(); extra -= 1; cursor.continue(); }
            };
          });
          var settings = tx.objectStore('settings');
          request(settings.get('unreported'), function (n) {
            settings.put((n || 0) + dropped.length, 'unreported');
          });
        }
      });
    },
    resetBackoff: function (onlyNetwork) {
      return run(['queue'], 'readwrite', function (tx) {
        var queue = tx.objectStore('queue');
        request(queue.getAll(), function (records) {
          records.forEach(function (r) {
            if (r.next && (!onlyNetwork || r.failure === 'network')) { r.next = 0; queue.put(r); }
          });
        });
      });
    },
  };

  // -- state ------------------------------------------------------------------------

  var config = null;
  var deviceKey = null;
  var locale = 'en';
  var visit = null; // {answers, index}
  var idleTimer = null;
  var thanksTimer = null;
  var online = navigator.onLine;
  var flushing = false;
  var keyRefused = false; // the server refused the device key: staff must look

  function words() {
    return (config && (config.words[locale] || config.words[config.kiosk.locales[0]])) || null;
  }
  function w(name, values) {
    var t = words();
    var text = t && t[name] !== undefined ? t[name] : (document.querySelector('[data-w="' + name + '"]') || {}).textContent || name;
    Object.keys(values || {}).forEach(function (k) { text = text.replace('{' + k + '}', values[k]); });
    return text;
  }
  function localized(map) { return map[locale] || map[config.kiosk.locales[0]] || ''; }

  function applyWords() {
    document.documentElement.lang = locale;
    if (!words()) { return; }
    document.querySelectorAll('[data-w]').forEach(function (el) { el.textContent = w(el.dataset.w); });
    document.title = w('title');
  }

  function show(id) {
    document.querySelectorAll('.screen').forEach(function (s) { s.hidden = s.id !== id; });
    document.body.dataset.screen = id;
    var heading = $(id).querySelector('h1');
    if (heading) { heading.focus({ preventScroll: true }); }
  }

  function emit(name, detail) { window.dispatchEvent(new CustomEvent('cxkiosk:' + name, { detail: detail })); }

  // -- the queue and its delivery ---------------------------------------------------------

  function headers() {
    return { 'Authorization': 'Bearer ' + deviceKey, 'Content-Type': 'application/json' };
  }

  function backoff(record, failure, retryAfter) {
    record.tries = (record.tries || 0) + 1;
    record.failure = failure;
    var wait = Math.min(MAX_BACKOFF_MS, BACKOFF_MS * Math.pow(2, record.tries - 1));
    wait = Math.max(wait * (0.5 + Math.random() / 2), (retryAfter || 0) * 1000);
    record.next = Date.now() + wait;
    return record;
  }

  function dropReport(record, status, reason, message) {
    return { key: record.key, status: status, reason: reason, message: message, at: new Date().toISOString(), item: record.item };
  }

  function flush() {
    if (!deviceKey) { return Promise.resolve(); }
    if (!navigator.locks) { return deliver(); }
    return navigator.locks.request(LOCK, { ifAvailable: true }, function (lock) {
      return lock ? deliver() : null; // another tab delivers: it reads the queue until empty
    });
  }

  // Delivers every due answer, 100 a request, one request at a time. Each request's
  // answers leave the queue in one transaction when the server has answered for
  // them; that transaction runs while the next request is on its way. The queue is
  // read again (for answers queued meanwhile) only once those transactions are done.
  async function deliver() {
    if (flushing) { return; }
    flushing = true;
    var pending = [];
    try {
      for (;;) {
        if (!navigator.onLine) { setOnline(false); break; }
        var now = Date.now();
        var records = await store.queued();
        var due = records.filter(function (r) { return !r.next || r.next <= now; });
        if (!due.length) { break; }
        var left = records.length;
        var go = true;
        for (var start = 0; go && start < due.length; start += BATCH) {
          var batch = due.slice(start, start + BATCH);
          left -= batch.length;
          go = await send(batch, left, pending);
        }
        await Promise.all(pending);
        pending = [];
        if (!go) { break; }
      }
    } finally {
      await Promise.all(pending);
      flushing = false;
      updateStatus();
    }
  }

  // One request: whether to go on with the next.
  async function send(batch, left, pending) {
    var response;
    try {
      response = await fetch(api('answers'), {
        method: 'POST',
        headers: headers(),
        cache: 'no-store',
        body: JSON.stringify({ items: batch.map(function (r) { return r.item; }), queue: left }),
      });
    } catch (err) {
      setOnline(false);
      pending.push(store.settle([], [], batch.map(function (r) { return backoff(r, 'network'); })));
      return false;
    }
    setOnline(true);
    if (response.ok) {
      keyRefused = false;
      var body = await response.json();
      var byKey = {};
      batch.forEach(function (r) { byKey[r.key] = r; });
      var done = [], dropped = [], later = [];
      body.results.forEach(function (result, i) {
        var record = byKey[result.key] || batch[i];
        if (result.status === 200) { done.push(record.key); }
        else if (result.status >= 400 && result.status < 500) {
          dropped.push(dropReport(record, result.status, result.reason, result.message));
        } else { later.push(backoff(record, 'server')); }
      });
      var last = done.length ? batch[batch.length - 1].item.at : null;
      pending.push(store.settle(done, dropped, later, last).then(function () {
        dropped.forEach(function (report) { emit('dropped', report); console.warn('cxcore kiosk: the server refused an answer', report); });
        emit('delivered', { keys: done });
      }));
      return !later.length;
    }
    var status = response.status;
    if (status === 413 && batch.length > 1) {
      // Too large for the server's limit: the answers are fine, the request is not. Halve it.
      var half = Math.ceil(batch.length / 2);
      return (await send(batch.slice(0, half), left + batch.length - half, pending)) &&
        send(batch.slice(half), left, pending);
    }
    var retryAfter = Number(response.headers.get('Retry-After')) || 0;
    if (status >= 400 && status < 500 && [401, 403, 408, 429].indexOf(status) < 0) {
      var text = await response.text();
      var reports = batch.map(function (r) { return dropReport(r, status, 'refused', text.slice(0, 500)); });
      pending.push(store.settle([], reports, []).then(function () {
        reports.forEach(function (report) { emit('dropped', report); console.warn('cxcore kiosk: the server refused an answer', report); });
      }));
      return true;
    }
    // 5xx, a rate limit, or a key refused: kept, and tried again later.
    pending.push(store.settle([], [], batch.map(function (r) { return backoff(r, 'server', retryAfter); })));
    if (status === 401 || status === 403) { keyRefused = true; emit('refused', { status: status }); }
    return false;
  }

  function enqueue(answers, complete, extra) {
    var item = {
      key: crypto.randomUUID(),
      answers: answers,
      complete: complete,
      locale: locale,
      version: config.survey.version,
      at: new Date().toISOString(),
    };
    Object.keys(extra || {}).forEach(function (k) { item[k] = extra[k]; });
    return store.add({ key: item.key, item: item, added: Date.now(), tries: 0, next: 0 }).then(function () {
      emit('queued', { key: item.key });
      updateStatus();
      flush();
    });
  }

  async function heartbeat() {
    if (!deviceKey || !navigator.onLine) { return; }
    var unreported = (await store.get('unreported')) || 0;
    try {
      var response = await fetch(api('heartbeat'), {
        method: 'POST',
        headers: headers(),
        cache: 'no-store',
        body: JSON.stringify({ queue: await store.count(), dropped: unreported, last_answer_at: (await store.get('last_answer_at')) || null }),
      });
      if (response.ok && unreported) {
        await run(['settings'], 'readwrite', function (tx) {
          var settings = tx.objectStore('settings');
          request(settings.get('unreported'), function (n) { settings.put(Math.max(0, (n || 0) - unreported), 'unreported'); });
        });
      }
    } catch (err) { setOnline(false); }
  }

  function setOnline(value) { online = value; updateStatus(); }

  async function updateStatus() {
    var n = deviceKey ? await store.count() : 0;
    var dropped = (await store.get('unreported')) || 0;
    document.body.dataset.queue = String(n);
    $('status-net').textContent = keyRefused ? w('setup_failed') : (online && navigator.onLine ? '' : w('offline'));
    $('status-queue').textContent = (n ? w('queued', { n: n }) : '') + (dropped ? ' · ' + w('dropped', { n: dropped }) : '');
  }

  // -- the visitor's screens ----------------------------------------------------------------

  function tapQuestions() {
    return config.survey.questions.filter(function (q) { return q.kind !== 'text'; });
  }

  // The survey's display logic, as the server checks it: a hidden question takes no answer.
  function holds(c, answers) {
    if (!Object.prototype.hasOwnProperty.call(answers, c.question)) { return c.op === 'not_answered'; }
    var a = answers[c.question];
    switch (c.op) {
      case 'answered': return true;
      case 'not_answered': return false;
      case 'eq': return a === c.value;
      case 'ne': return a !== c.value;
      case 'in': return c.value.indexOf(a) >= 0;
      case 'not_in': return c.value.indexOf(a) < 0;
      default:
        if (typeof a !== 'number') { return false; }
        return { lt: a < c.value, le: a <= c.value, gt: a > c.value, ge: a >= c.value }[c.op] === true;
    }
  }
  function visible(q, answers) {
    return (q.show_if || []).every(function (c) { return holds(c, answers); });
  }
  function shownOnly(answers) {
    var kept = {};
    config.survey.questions.forEach(function (q) {
      if (Object.prototype.hasOwnProperty.call(answers, q.id) && visible(q, kept)) { kept[q.id] = answers[q.id]; }
    });
    return kept;
  }

  function attract() {
    visit = null;
    clearTimeout(thanksTimer);
    if (nextConfig) { config = nextConfig; nextConfig = null; }
    locale = config.kiosk.locales[0];
    applyWords();
    renderLanguages();
    show('attract');
  }

  function renderLanguages() {
    var box = $('languages');
    box.textContent = '';
    if (config.kiosk.locales.length < 2) { return; }
    config.kiosk.locales.forEach(function (code) {
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'language';
      button.lang = code;
      button.textContent = (config.words[code] || {}).language_name || code;
      button.addEventListener('click', function () { begin(code); });
      box.appendChild(button);
    });
  }

  function begin(code) {
    locale = code || locale;
    applyWords();
    visit = { answers: {}, index: 0 };
    next();
  }

  function next() {
    var questions = config.survey.questions;
    while (visit.index < questions.length && !visible(questions[visit.index], visit.answers)) { visit.index += 1; }
    if (visit.index >= questions.length) { return finish(); }
    var q = questions[visit.index];
    if (q.kind === 'text') {
      visit.comment = q;
      $('comment-title').textContent = localized(q.text);
      $('comment-text').value = '';
      if (q.max_length) { $('comment-text').maxLength = q.max_length; }
      return show('comment');
    }
    var taps = tapQuestions();
    ask(q, taps.indexOf(q), taps.length);
  }

  function choices(q) {
    if (q.levels) {
      return q.levels.map(function (level) {
        return { value: level.value, glyph: level.glyph, label: localized(level.label), display: q.display };
      });
    }
    return q.options.map(function (o) { return { value: o.id, glyph: '', label: localized(o.text), display: 'options' }; });
  }

  function ask(q, index, total) {
    $('progress').textContent = total > 1 ? w('question_of', { n: index + 1, total: total }) : '';
    $('q-text').textContent = localized(q.text);
    var box = $('q-choices');
    box.textContent = '';
    box.className = 'levels ' + (q.display || 'options') + ' n' + choices(q).length;
    choices(q).forEach(function (choice) {
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'level';
      button.dataset.value = String(choice.value);
      if (choice.display === 'emoji' || choice.display === 'stars') {
        var glyph = document.createElement('span');
        glyph.className = 'glyph';
        glyph.setAttribute('aria-hidden', 'true');
        glyph.textContent = choice.glyph;
        var label = document.createElement('span');
        label.className = 'label';
        label.textContent = choice.label;
        button.append(glyph, label);
      } else if (choice.display === 'options') {
        button.textContent = choice.label;
      } else {
        button.textContent = String(choice.value);
        if (choice.label && choice.label !== String(choice.value)) {
          button.setAttribute('aria-label', choice.value + ': ' + choice.label);
        }
      }
      button.addEventListener('click', function () {
        visit.answers[q.id] = choice.value;
        visit.index += 1;
        next();
      });
      box.appendChild(button);
    });
    var ends = q.display === 'numbers'; // emoji and stars name each level on its button
    $('q-low').textContent = ends && q.low_label ? localized(q.low_label) || '' : '';
    $('q-high').textContent = ends && q.high_label ? localized(q.high_label) || '' : '';
    show('question');
  }

  function finish() {
    var answers = visit.answers;
    visit = null;
    show('thanks');
    thanksTimer = setTimeout(attract, THANKS_MS);
    return enqueue(answers, true);
  }

  function idle() {
    var screen = document.body.dataset.screen;
    if (screen === 'attract' || screen === 'setup' || screen === 'loading') { return; }
    if (visit && Object.keys(visit.answers).length) {
      enqueue(visit.answers, false); // what the visitor answered before walking away counts
    }
    attract();
  }

  var lastTapFlush = 0;
  function touched(event) {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(idle, IDLE_MS);
    // The next tap delivers, too (at most every 3 s, and not on each key of a comment).
    if (deviceKey && event.type === 'pointerdown' && Date.now() - lastTapFlush > 3000) {
      lastTapFlush = Date.now();
      store.resetBackoff(true).then(flush);
    }
  }

  // -- agent-assisted mode --------------------------------------------------------------------

  function agentForm() {
    locale = config.kiosk.locales[0];
    applyWords();
    var box = $('agent-questions');
    box.textContent = '';
    config.survey.questions.forEach(function (q) {
      var field = document.createElement('fieldset');
      var legend = document.createElement('legend');
      legend.textContent = localized(q.text);
      field.appendChild(legend);
      if (q.kind === 'text') {
        var area = document.createElement('textarea');
        area.name = q.id;
        area.rows = 3;
        area.setAttribute('aria-label', localized(q.text));
        if (q.max_length) { area.maxLength = q.max_length; }
        field.appendChild(area);
      } else {
        field.className = 'radios';
        choices(q).forEach(function (choice) {
          var label = document.createElement('label');
          var input = document.createElement('input');
          input.type = 'radio';
          input.name = q.id;
          input.value = String(choice.value);
          var text = choice.display === 'options' ? choice.label : choice.value + (choice.label && choice.label !== String(choice.value) ? ' ' + choice.label : '');
          label.append(input, document.createTextNode(' ' + (choice.display === 'emoji' ? choice.glyph + ' ' : '') + text));
          field.appendChild(label);
        });
      }
      box.appendChild(field);
    });
    $('agent-error').textContent = '';
    show('agent');
  }

  function saveAgent(event) {
    event.preventDefault();
    var form = $('agent-form');
    var agentId = $('agent-id').value.trim();
    var answers = {};
    config.survey.questions.forEach(function (q) {
      if (q.kind === 'text') {
        var text = form.elements[q.id] && form.elements[q.id].value.trim();
        if (text) { answers[q.id] = text; }
        return;
      }
      var checked = form.querySelector('input[name="' + q.id + '"]:checked');
      if (checked) { answers[q.id] = q.levels ? Number(checked.value) : checked.value; }
    });
    answers = shownOnly(answers);
    if (!agentId || !Object.keys(answers).length) {
      $('agent-error').textContent = w('agent_missing');
      return;
    }
    enqueue(answers, true, { mode: 'agent', agent_id: agentId });
    $('thanks-title').textContent = w('agent_saved');
    $('thanks-body').textContent = '';
    show('thanks');
    thanksTimer = setTimeout(attract, THANKS_MS);
  }

  // -- start ------------------------------------------------------------------------------------

  // The kiosk's settings and survey. A kiosk runs for weeks: they are fetched again
  // with each heartbeat, and a new survey version is shown from the next visitor on.
  var nextConfig = null;
  async function loadConfig(later) {
    try {
      var response = await fetch(api('config'), { headers: headers(), cache: 'no-store' });
      setOnline(true);
      keyRefused = response.status === 401 || response.status === 403;
      if (response.ok) {
        var fresh = await response.json();
        await store.put('config', fresh);
        if (!later) { config = fresh; }
        else {
          nextConfig = fresh;
          if (document.body.dataset.screen === 'attract') { attract(); } // nobody is mid-visit
        }
        return 'ok';
      }
      return response.status === 401 || response.status === 403 ? 'refused' : 'error';
    } catch (err) {
      setOnline(false);
      return 'offline';
    }
  }

  async function start() {
    var fromLink = location.hash.match(/^#key=(cxk_[0-9a-f]{12}_[A-Za-z0-9_-]{43})$/);
    if (fromLink) {
      await store.put('device_key', fromLink[1]);
      history.replaceState(null, '', location.pathname + location.search);
    }
    deviceKey = await store.get('device_key');
    config = await store.get('config');
    if (!deviceKey) { return setup(''); }
    var outcome = await loadConfig();
    if (!config) { return setup(outcome === 'refused' ? 'setup_failed' : 'setup_offline'); }
    attract();
    updateStatus();
    flush();
    heartbeat();
  }

  function setup(problem) {
    $('setup-error').textContent = problem ? w(problem) : '';
    show('setup');
    if (problem === 'setup_offline') { setTimeout(start, 5000); }
  }

  $('setup-form').addEventListener('submit', async function (event) {
    event.preventDefault();
    deviceKey = $('setup-key').value.trim();
    var outcome = await loadConfig();
    if (outcome !== 'ok') { deviceKey = null; return setup(outcome === 'refused' ? 'setup_failed' : 'setup_offline'); }
    await store.put('device_key', $('setup-key').value.trim());
    $('setup-key').value = '';
    start();
  });
  $('start').addEventListener('click', function () { begin(); });
  $('staff').addEventListener('click', agentForm);
  $('agent-form').addEventListener('submit', saveAgent);
  $('agent-cancel').addEventListener('click', attract);
  $('comment-send').addEventListener('click', function () {
    var text = $('comment-text').value.trim();
    if (text) { visit.answers[visit.comment.id] = text; }
    visit.index += 1;
    next();
  });
  $('comment-skip').addEventListener('click', function () { visit.index += 1; next(); });
  ['pointerdown', 'keydown', 'input'].forEach(function (name) {
    document.addEventListener(name, touched, { capture: true, passive: true });
  });
  window.addEventListener('online', function () {
    setOnline(true);
    store.resetBackoff(false).then(flush).then(heartbeat).then(function () { return loadConfig(true); });
  });
  window.addEventListener('offline', function () { setOnline(false); });
  setInterval(function () { flush(); }, FLUSH_MS);
  setInterval(function () {
    heartbeat();
    if (deviceKey && navigator.onLine) { loadConfig(true); }
  }, BEAT_MS);

  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js').catch(function (err) { console.warn('cxcore kiosk: no service worker', err); });
  }
  window.cxKiosk = {
    flush: flush,
    queued: function () { return store.queued(); },
    dropped: function () {
      return run(['dropped'], 'readonly', function (tx, set) { request(tx.objectStore('dropped').getAll(), set); });
    },
    heartbeat: heartbeat,
    // Queue answers without the screens (a host app's own buttons, a load test).
    record: function (answers, complete) { return enqueue(answers, complete !== false); },
  };
  start();
})();
