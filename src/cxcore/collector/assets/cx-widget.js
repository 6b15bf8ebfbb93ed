/* cxcore in-app widget: plain JavaScript, no build step. Served by the collector at
   /w/cx-widget.<hash>.js. Host API: cx.init, cx.track, cx.identify, cx.reset, cx.on, cx.off,
   cx.flush. Everything it shows lives in a shadow root; every string is set as text. */
(function () {
  "use strict";
  if (window.cx && window.cx.version) return;
  var me = document.currentScript;
  var base = me ? me.src.replace(/\/w\/cx-widget[^/]*\.js.*$/, "") : "";
  var cfg = { key: me && me.getAttribute("data-key"), locale: null, base: base };
  var user = null;
  var listeners = {};
  var open = null; // the prompt on screen: {host, root, prompt, answers}
  var flushing = null; // the pass in flight
  var again = null; // the pass to run after it, for callers that came meanwhile
  var retryAt = 0;
  var failures = 0;
  var timer = null;
  var DB = "cx-widget";
  var STORE = "answers";

  var CSS =
    ".cx{all:initial;position:fixed;z-index:2147483647;right:16px;bottom:16px;box-sizing:border-box;" +
    "width:360px;max-width:calc(100vw - 32px);background:#fff;color:#1f1f1f;border:1px solid #8a8a8a;" +
    "border-radius:12px;box-shadow:0 8px 28px rgba(0,0,0,.25);padding:16px 16px 14px;" +
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','Noto Sans Devanagari','Lohit Devanagari',sans-serif;" +
    "text-align:start;display:block}" +
    ".cx *{box-sizing:border-box;font:inherit;color:inherit;margin:0;padding:0;letter-spacing:normal;text-transform:none}" +
    ".top{display:flex;align-items:flex-start;gap:8px;margin-bottom:8px}" +
    ".cx h2{flex:1;font-weight:600;font-size:16px}" +
    ".x{flex:none;width:32px;height:32px;border:1px solid transparent;border-radius:8px;background:none;cursor:pointer;font-size:20px;line-height:1}" +
    ".cx p{margin:0 0 8px}.cx fieldset{border:0;min-width:0}.cx legend{font-weight:600;margin-bottom:8px;display:block}" +
    ".help,.ends{font-size:13px;color:#4a4a4a}" +
    ".row{display:flex;gap:3px}.col{display:flex;flex-direction:column;gap:4px}" +
    ".lv{min-width:0;min-height:36px;flex:1 1 0;border:1px solid #6b6b6b;border-radius:8px;background:#fff;cursor:pointer;padding:4px 0}" +
    ".col .lv{text-align:start;padding:6px 8px}.lv[aria-pressed=true]{background:#0b57d0;color:#fff;border-color:#0b57d0}" +
    ".ends{display:flex;justify-content:space-between;margin-top:4px}" +
    ".cx label.opt{display:flex;gap:8px;align-items:center;padding:4px 0;cursor:pointer}" +
    ".cx input[type=checkbox],.cx input[type=radio]{appearance:auto;width:18px;height:18px;margin:0}" +
    ".cx textarea{display:block;width:100%;min-height:72px;border:1px solid #6b6b6b;border-radius:8px;padding:6px;resize:vertical}" +
    ".act{display:flex;gap:8px;justify-content:flex-end;margin-top:12px}" +
    ".b{border:1px solid #0b57d0;border-radius:8px;padding:6px 14px;cursor:pointer;background:#0b57d0;color:#fff;font-weight:600}" +
    ".b.s{background:#fff;color:#0b57d0}" +
    "button:focus-visible,input:focus-visible,textarea:focus-visible{outline:3px solid #e37400;outline-offset:2px}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
    "@media (prefers-reduced-motion:no-preference){.cx{animation:cxin .18s ease-out}}" +
    "@keyframes cxin{from{opacity:0;transform:translateY(8px)}to{opacity:1;transform:none}}";

  function emit(name, detail) {
    (listeners[name] || []).slice().forEach(function (fn) {
      try { fn(detail); } catch (e) { setTimeout(function () { throw e; }); }
    });
    try { window.dispatchEvent(new CustomEvent("cx:" + name, { detail: detail })); } catch (e) { /* old browsers */ }
  }

  function uid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  function store(name, value) {
    try {
      if (value === undefined) return localStorage.getItem(name);
      localStorage.setItem(name, value);
    } catch (e) { /* storage off: no memory */ }
    return null;
  }

  function locale() {
    return (user && user.locale) || cfg.locale || document.documentElement.lang || navigator.language || "en";
  }

  function post(path, body) {
    return fetch(cfg.base + "/w/v1/" + path, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      keepalive: path !== "eligibility",
      headers: { "Content-Type": "application/json", "X-Cx-App-Key": cfg.key },
      body: JSON.stringify(body)
    });
  }

  // -- the queue of answers, in IndexedDB ------------------------------------------------------

  function db() {
    return new Promise(function (ok, fail) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "key" }); };
      req.onsuccess = function () { ok(req.result); };
      req.onerror = function () { fail(req.error); };
    });
  }

  function tx(mode, work) {
    return db().then(function (d) {
      return new Promise(function (ok, fail) {
        var t = d.transaction(STORE, mode);
        var out = work(t.objectStore(STORE));
        t.oncomplete = function () { d.close(); ok(out && out.result); };
        t.onerror = t.onabort = function () { d.close(); fail(t.error); };
      });
    });
  }

  function enqueue(item) {
    return tx("readwrite", function (s) { s.put(item); });
  }

  function queued() {
    return tx("readonly", function (s) { return s.getAll(); }).then(function (all) {
      return (all || []).filter(function (i) { return i.app === cfg.key; });
    });
  }

  function drop(key) {
    return tx("readwrite", function (s) { s["delete"](key); });
  }

  function later() {
    failures += 1;
    var wait = Math.min(60000, 1000 * Math.pow(2, failures - 1));
    retryAt = Date.now() + wait;
    clearTimeout(timer);
    timer = setTimeout(flush, wait);
  }

  // Sends every queued answer, oldest first. A 2xx stores it; a 4xx can never succeed and is
  // dropped (and reported); a 5xx or a network error keeps it for later, with backoff. A call
  // while a pass is in flight gets one more pass after it, so what was queued before the call
  // is always tried by the promise it returns.
  function flush() {
    if (!cfg.key) return Promise.resolve(0);
    if (flushing) {
      if (!again) {
        var next = function () { again = null; return flush(); };
        again = flushing.then(next, next);
      }
      return again;
    }
    flushing = pass().then(
      function (n) { flushing = null; return n; },
      function (e) { flushing = null; throw e; });
    return flushing;
  }

  function pass() {
    var sent = 0;
    return queued().then(function (items) {
      items.sort(function (a, b) { return a.at - b.at; });
      var step = function (i) {
        if (i >= items.length) return sent;
        var it = items[i];
        return post("answers", { token: it.token, answers: it.answers, complete: it.complete, key: it.key, locale: it.locale })
          .then(function (r) {
            if (r.ok || (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429)) {
              if (!r.ok) emit("error", { status: r.status, survey: it.survey });
              sent += 1;
              failures = 0;
              return drop(it.key).then(function () { return step(i + 1); });
            }
            later();
            return sent;
          }, function () { later(); return sent; });
      };
      return step(0);
    });
  }

  // -- showing a prompt ------------------------------------------------------------------------

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) if (attrs[k] != null) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }

  function holds(c, answers) {
    if (!(c.q in answers)) return c.op === "not_answered";
    var a = answers[c.q];
    var picked = Array.isArray(a) ? a : [a];
    var some = function (vs) { return picked.some(function (p) { return vs.indexOf(p) >= 0; }); };
    switch (c.op) {
      case "answered": return true;
      case "not_answered": return false;
      case "eq": return picked.indexOf(c.value) >= 0;
      case "ne": return picked.indexOf(c.value) < 0;
      case "in": return some(c.value);
      case "not_in": return !some(c.value);
      default:
        if (typeof a !== "number") return false;
        return { lt: a < c.value, le: a <= c.value, gt: a > c.value, ge: a >= c.value }[c.op] === true;
    }
  }

  function visible(q, answers) {
    return (q.show_if || []).every(function (c) { return holds(c, answers); });
  }

  function nextAfter(o, index) {
    var qs = o.prompt.questions;
    for (var i = index + 1; i < qs.length; i++) if (visible(qs[i], o.answers)) return i;
    return -1;
  }

  function close(how) {
    var o = open;
    if (!o) return;
    open = null;
    document.removeEventListener("keydown", o.onkey, true);
    o.host.remove();
    if (how === "dismissed") {
      if (Object.keys(o.answers).length) save(o, false);
      post("dismissed", { token: o.prompt.token }).then(function () {}, function () {});
      emit("dismissed", { survey: o.prompt.survey, invitation: o.prompt.invitation });
    }
  }

  function save(o, complete) {
    var p = o.prompt;
    var item = {
      key: uid(), app: cfg.key, token: p.token, survey: p.survey, locale: p.locale,
      answers: o.answers, complete: complete, at: Date.now()
    };
    return enqueue(item).then(flush, function () {
      // No IndexedDB (a private window): send once, directly.
      return post("answers", { token: item.token, answers: item.answers, complete: complete, key: item.key, locale: item.locale });
    });
  }

  function finish(o) {
    var p = o.prompt;
    var body = o.body;
    body.textContent = "";
    var done = el("p", { role: "status" }, p.thanks || p.strings.thanks);
    body.appendChild(done);
    emit("answered", { survey: p.survey, invitation: p.invitation, answers: o.answers });
    save(o, true).then(function () {}, function () {});
    if (!navigator.onLine) done.textContent = p.strings.queued;
    o.box.querySelector(".x").focus();
    setTimeout(function () { if (open === o) close("answered"); }, 4000);
  }

  function step(o, index) {
    if (index < 0) return finish(o);
    o.index = index;
    var p = o.prompt;
    var q = p.questions[index];
    var s = p.strings;
    var body = o.body;
    body.textContent = "";
    var fs = el("fieldset", { "data-question": q.id });
    var legendId = "cx-q-" + q.id;
    fs.appendChild(el("legend", { id: legendId }, q.text + (q.required ? "" : " (" + s.optional + ")")));
    if (q.help) fs.appendChild(el("p", { "class": "help" }, q.help));
    var advance = function () { step(o, nextAfter(o, index)); };
    var actions = el("div", { "class": "act" });
    var last = nextAfter(o, index) < 0;
    if (q.scale) {
      var group = el("div", { "class": q.scale.layout === "column" ? "col" : "row" });
      q.scale.levels.forEach(function (lv) {
        var b = el("button", {
          type: "button", "class": "lv", "aria-pressed": String(o.answers[q.id] === lv.value),
          "aria-label": lv.label ? lv.value + " – " + lv.label : String(lv.value),
          "data-value": lv.value, title: lv.label
        }, q.scale.layout === "column" && lv.label ? lv.label : lv.glyph);
        b.addEventListener("click", function () {
          o.answers[q.id] = lv.value;
          advance();
          var first = o.body.querySelector("button,input,textarea");
          if (first && open === o) first.focus();
        });
        group.appendChild(b);
      });
      fs.appendChild(group);
      if (q.scale.layout !== "column" && (q.scale.low || q.scale.high)) {
        var ends = el("div", { "class": "ends", "aria-hidden": "true" });
        ends.appendChild(el("span", {}, q.scale.low || ""));
        ends.appendChild(el("span", {}, q.scale.high || ""));
        fs.appendChild(ends);
      }
    } else if (q.options) {
      fs.appendChild(el("p", { "class": "help" }, q.multiple ? s.choose_any : s.choose_one));
      q.options.forEach(function (opt) {
        var lab = el("label", { "class": "opt" });
        var input = el("input", { type: q.multiple ? "checkbox" : "radio", name: "cx-" + q.id, value: opt.id });
        lab.appendChild(input);
        lab.appendChild(el("span", {}, opt.text));
        fs.appendChild(lab);
      });
    } else {
      var ta = el("textarea", { "aria-labelledby": legendId, maxlength: q.max_length, placeholder: s.your_answer });
      fs.appendChild(ta);
    }
    body.appendChild(fs);
    if (!q.scale) {
      if (!q.required) {
        var skip = el("button", { type: "button", "class": "b s" }, s.skip);
        skip.addEventListener("click", advance);
        actions.appendChild(skip);
      }
      var go = el("button", { type: "button", "class": "b" }, last ? s.send : s.next);
      go.addEventListener("click", function () {
        if (q.options) {
          var picked = Array.prototype.map.call(fs.querySelectorAll("input:checked"), function (i) { return i.value; });
          if (picked.length) o.answers[q.id] = q.multiple ? picked : picked[0];
          else if (q.required) return;
        } else {
          var text = fs.querySelector("textarea").value.trim();
          if (text) o.answers[q.id] = text;
          else if (q.required) return;
        }
        advance();
      });
      actions.appendChild(go);
      body.appendChild(actions);
    }
  }

  function show(prompt) {
    if (prompt.v !== 1) return false;
    var host = document.createElement("div");
    host.setAttribute("data-cx-widget", "");
    host.style.cssText =
      "all:initial !important;display:block !important;position:fixed !important;inset:auto 0 0 auto !important;" +
      "width:0 !important;height:0 !important;z-index:2147483647 !important;visibility:visible !important;opacity:1 !important";
    var root = host.attachShadow({ mode: "open" });
    var style = document.createElement("style");
    style.textContent = CSS;
    root.appendChild(style);
    var titleId = "cx-title";
    var box = el("div", { "class": "cx", role: "dialog", "aria-labelledby": titleId, lang: prompt.locale, dir: "auto" });
    var top = el("div", { "class": "top" });
    top.appendChild(el("h2", { id: titleId }, prompt.title));
    var x = el("button", { type: "button", "class": "x", "aria-label": prompt.strings.close, title: prompt.strings.close }, "\u00d7");
    top.appendChild(x);
    box.appendChild(top);
    if (prompt.intro) box.appendChild(el("p", {}, prompt.intro));
    var body = el("div", { "aria-live": "polite" });
    box.appendChild(body);
    root.appendChild(box);
    var o = { host: host, root: root, box: box, body: body, prompt: prompt, answers: {}, index: 0 };
    o.onkey = function (e) {
      if (e.key === "Escape" && open === o && e.composedPath().indexOf(host) >= 0) close("dismissed");
    };
    x.addEventListener("click", function () { close(open === o && o.body.querySelector("[role=status]") ? "answered" : "dismissed"); });
    document.addEventListener("keydown", o.onkey, true);
    open = o;
    var first = prompt.questions.findIndex(function (q) { return visible(q, {}); });
    step(o, first);
    (document.body || document.documentElement).appendChild(host);
    emit("shown", { survey: prompt.survey, invitation: prompt.invitation, locale: prompt.locale });
    post("shown", { token: prompt.token }).then(function () {}, function () {});
    return true;
  }

  // -- the host's API ---------------------------------------------------------------------------

  var cx = {
    version: 1,
    init: function (options) {
      options = options || {};
      if (options.key) cfg.key = options.key;
      if (options.locale) cfg.locale = options.locale;
      if (options.base) cfg.base = String(options.base).replace(/\/$/, "");
      if (options.user) cx.identify(options.user);
      flush();
      return cx;
    },
    identify: function (u) {
      if (!u || typeof u.id !== "string") throw new TypeError("cx.identify: expected {id: '<user id>', token?, locale?}");
      user = { id: u.id, token: u.token || null, locale: u.locale || null };
      return cx;
    },
    reset: function () {
      user = null;
      close("reset");
      return cx;
    },
    track: function (event, properties) {
      if (!cfg.key) return Promise.reject(new Error("cx.track: call cx.init({key: 'pk_...'}) first"));
      if (open) return Promise.resolve({ show: false, reason: "busy" });
      var quiet = !user && Number(store("cx:quiet:" + cfg.key) || 0);
      if (quiet && quiet > Date.now()) {
        return Promise.resolve({ show: false, reason: "recontact_window", eligible_at: new Date(quiet).toISOString() });
      }
      if (Date.now() >= retryAt) flush();
      var body = {
        event: String(event), event_id: uid(), properties: properties || {}, locale: locale()
      };
      try { body.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* none */ }
      if (user) body.user = user.token ? { id: user.id, token: user.token } : { id: user.id };
      return post("eligibility", body).then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) {
            var err = (data && data.error) || {};
            emit("error", { status: r.status, reason: err.reason, message: err.message });
            return { show: false, reason: err.reason || "error", status: r.status };
          }
          if (data.show && !open && show(data.prompt)) {
            // Anonymous visitors have no history on the server: this browser keeps the window.
            if (!user) store("cx:quiet:" + cfg.key, String(Date.now() + (data.recontact_days || 0) * 864e5));
            return { show: true, survey: data.prompt.survey };
          }
          return { show: false, reason: data.reason || "busy", eligible_at: data.eligible_at };
        });
      });
    },
    on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); return cx; },
    off: function (name, fn) {
      listeners[name] = (listeners[name] || []).filter(function (f) { return f !== fn; });
      return cx;
    },
    flush: flush,
    pending: function () { return queued().then(function (a) { return a.length; }); }
  };

  var waiting = window.cx && window.cx.q;
  window.cx = cx;
  window.addEventListener("online", function () { failures = 0; flush(); });
  if (cfg.key) flush();
  // Calls made before the script loaded: window.cx = window.cx || {q: []}; cx.q.push(["init", {...}])
  if (Array.isArray(waiting)) waiting.forEach(function (call) { cx[call[0]].apply(cx, call.slice(1)); });
})();
