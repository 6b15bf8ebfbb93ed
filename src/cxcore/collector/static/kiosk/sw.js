/* cxcore kiosk service worker: keeps the page's shell, so the kiosk starts offline.
 * The shell is fetched from the network first (so updates arrive) and from the
 * cache when the network is down. The kiosk's API is never cached. */
'use strict';
var CACHE = 'cxcore-kiosk-shell-v1';
var SHELL = ['./', '../static/kiosk/kiosk.js', '../static/kiosk/kiosk.css'];
var SHELL_URLS = SHELL.map(function (path) { return new URL(path, self.location.href).href; });

self.addEventListener('install', function (event) {
  event.waitUntil(
    caches.open(CACHE).then(function (cache) { return cache.addAll(SHELL); }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener('activate', function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) { return n.indexOf('cxcore-kiosk-shell-') === 0 && n !== CACHE; })
        .map(function (n) { return caches.delete(n); }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener('fetch', function (event) {
  var request = event.request;
  if (request.method !== 'GET') { return; }
  var url = new URL(request.url);
  url.search = '';
  url.hash = '';
  if (SHELL_URLS.indexOf(url.href) < 0) { return; }
  event.respondWith(
    fetch(request).then(function (response) {
      if (response.ok) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { return cache.put(url.href, copy); });
      }
      return response;
    }).catch(function () {
      return caches.match(url.href).then(function (hit) { return hit || Response.error(); });
    })
  );
});
