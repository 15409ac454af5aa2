// frontdesk: what the customer page (app.js) and the agent console (agent.js) have
// in common. Loaded before either (both scripts are deferred, so they run in
// order), it adds one name to the page, `frontdeskCommon`, and does nothing until
// a page calls it.
//
// Text is only ever put in the page with textContent.
'use strict';

window.frontdeskCommon = (function () {
  // Reconnecting: the first wait, doubled after every try up to the longest.
  const RETRY_FIRST_MS = 500;
  const RETRY_MAX_MS = 8000;
  const PING_MS = 20000;
  // A socket that answers neither the greeting nor a ping within this long is
  // treated as dead: on mobile networks a connection can vanish without a close
  // event for minutes.
  const ANSWER_WAIT_MS = 10000;

  // ---------------------------------------------------------------- translations

  // The first language in the browser's preference list that we have wins;
  // every Chinese variant gets Simplified Chinese, anything else English.
  function pickLanguage() {
    const prefs = (navigator.languages && navigator.languages.length)
      ? navigator.languages : [navigator.language || 'en'];
    for (const tag of prefs) {
      const l = String(tag).toLowerCase();
      if (l === 'zh' || l.startsWith('zh-')) return 'zh';
      if (l === 'en' || l.startsWith('en-')) return 'en';
    }
    return 'en';
  }

  // A page's texts, `strings` by language (`en`, `zh`; error texts by code under
  // `errors`), in the language picked for this browser: the language, and what
  // uses it.
  function translations(strings) {
    const lang = pickLanguage();

    function t(key, ...args) {
      const v = key in strings[lang] ? strings[lang][key] : strings.en[key];
      return typeof v === 'function' ? v(...args) : (v === undefined ? key : v);
    }

    // The text of an error: ours by code, else the server's (English) message.
    function errorText(code, message) {
      return strings[lang].errors[code] || message || strings[lang].errors.internal;
    }

    // The page's own text, marked in its HTML with data-i18n attributes.
    function translatePage() {
      document.documentElement.lang = lang === 'zh' ? 'zh-Hans' : 'en';
      document.title = t('pageTitle');
      for (const n of document.querySelectorAll('[data-i18n]')) n.textContent = t(n.dataset.i18n);
      for (const n of document.querySelectorAll('[data-i18n-aria-label]')) {
        n.setAttribute('aria-label', t(n.dataset.i18nAriaLabel));
      }
      for (const n of document.querySelectorAll('[data-i18n-placeholder]')) {
        n.setAttribute('placeholder', t(n.dataset.i18nPlaceholder));
      }
    }

    // The time of a chat line, hours and minutes (null where Intl is missing).
    const time = (() => {
      try { return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : undefined, { hour: '2-digit', minute: '2-digit' }); } catch (_) { return null; }
    })();

    return { lang, t, errorText, translatePage, time };
  }

  // ---------------------------------------------------------------- the page

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, text) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // The error banner at the top of the page.
  function showError(text) {
    $('error-text').textContent = text;
    $('error').hidden = false;
  }

  function hideError() {
    $('error').hidden = true;
    $('error-text').textContent = '';
  }

  // Enter sends the form, Shift+Enter starts a new line (not while an IME is composing).
  function sendOnEnter(field, form) {
    field.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
  }

  // Calls `nudge` when the network is back or the page is visible again.
  function whenBack(nudge) {
    window.addEventListener('online', () => nudge());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') nudge();
    });
  }

  // ---------------------------------------------------------------- a conversation

  // Stored lines (a Map seq → line) in order.
  function inOrder(lines) {
    return Array.from(lines.values()).sort((a, b) => a.seq - b.seq);
  }

  // Fills `list` with a conversation: the stored `lines`, then the `pending` ones
  // still on their way, each made by `render(line, pending)`. The list follows
  // new lines when it was scrolled to the bottom, or when `toBottom`.
  function showLines(list, lines, pending, render, toBottom) {
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    list.textContent = '';
    for (const line of inOrder(lines)) list.append(render(line, false));
    for (const line of pending) list.append(render(line, true));
    if (toBottom || nearBottom) list.scrollTop = list.scrollHeight;
  }

  // Ids for chat messages, unique within a consultation also across reloads of
  // the page: a random prefix per page load (after `kind`) and a counter.
  function messageIds(kind) {
    const prefix = `${kind}${randomHex(6)}`;
    let counter = 0;
    return () => {
      counter += 1;
      return `${prefix}-${counter}`;
    };
  }

  function randomHex(bytes) {
    const a = new Uint8Array(bytes);
    if (window.crypto && window.crypto.getRandomValues) window.crypto.getRandomValues(a);
    else for (let i = 0; i < bytes; i += 1) a[i] = Math.floor(Math.random() * 256);
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // ---------------------------------------------------------------- the socket

  // What the two pages' connection objects do alike. Each page spreads these into
  // its own (`{ ...socketMethods, ... }`), which has `ws`, `welcomed`, `openedAt`,
  // `awaitingSince`, `retryDelay`, `retryTimer`, `connect()` and `closed(ws)`.
  const socketMethods = {
    // Opens a WebSocket to `path` on this server and makes it the current one;
    // every message that is a JSON object goes to `handle`. Null (and nothing
    // changed) when the browser refuses to even try.
    openSocket(path, handle) {
      const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
      let ws;
      try {
        ws = new WebSocket(`${scheme}//${location.host}${path}`);
      } catch (_) {
        return null;
      }
      this.ws = ws;
      this.welcomed = false;
      this.openedAt = Date.now();
      this.awaitingSince = 0;
      ws.onmessage = (ev) => {
        if (ws !== this.ws) return;
        this.awaitingSince = 0; // any message proves the socket alive
        let msg;
        try { msg = JSON.parse(ev.data); } catch (_) { return; }
        if (msg && typeof msg === 'object') handle(msg);
      };
      ws.onclose = () => this.closed(ws);
      return ws;
    },

    ready() {
      return !!this.ws && this.welcomed && this.ws.readyState === WebSocket.OPEN;
    },

    // Whether the socket is dead: the welcome, or the answer to a ping, is overdue.
    // Timers are throttled in background tabs, so "dead" never means "quiet for a
    // while".
    overdue(now) {
      if (!this.welcomed) return now - this.openedAt > ANSWER_WAIT_MS;
      return !!this.awaitingSince && now - this.awaitingSince > ANSWER_WAIT_MS;
    },

    // Treat the socket as closed now, without waiting for a closing handshake that
    // a dead network will never complete.
    drop() {
      const ws = this.ws;
      if (!ws) return;
      silence(ws);
      this.closed(ws);
    },

    // Close on purpose: no callbacks.
    release() {
      const ws = this.ws;
      this.ws = null;
      this.welcomed = false;
      if (ws) silence(ws);
    },

    cancelRetry() {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    },

    // Reconnects after `delay`, and doubles the wait for the next time.
    retryAfter(delay) {
      this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
      this.retryTimer = setTimeout(() => this.connect(), delay);
    },

    // A reconnect is waiting: don't sit out the back-off. False when none is.
    retryNow() {
      if (!this.retryTimer) return false;
      this.retryDelay = RETRY_FIRST_MS;
      this.connect();
      return true;
    },
  };

  function silence(ws) {
    ws.onopen = ws.onmessage = ws.onclose = null;
    try { ws.close(); } catch (_) { /* already closed */ }
  }

  return Object.freeze({
    RETRY_FIRST_MS,
    PING_MS,
    translations,
    $,
    el,
    showError,
    hideError,
    sendOnEnter,
    whenBack,
    inOrder,
    showLines,
    messageIds,
    socketMethods,
  });
}());
