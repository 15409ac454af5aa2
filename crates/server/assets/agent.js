// frontdesk agent console: the waiting queue and the customers in hand.
//
// Signing in (POST /api/login) sets an HttpOnly session cookie; the one WebSocket
// to /agent/ws is authenticated by it (same origin), and speaks the protocol in
// crates/protocol/src/agent.rs (PROTOCOL.md, "The agent protocol"). The socket is
// reopened with back-off whenever it drops; the server keeps the agent's place and
// customers for a grace period, and its `welcome` says what is in hand. Replies
// are kept in an outbox until `said` and sent again under the same id after a
// reconnect, so a flaky network neither loses nor doubles one.
//
// A customer who comes from the answer bot brings the conversation with it
// (`service.bot`): shown above the chat with each answer's matching degree. The
// queue column shows the bot's live hand-off thresholds (`queue.handoff`).
//
// Server text (names, phones, chat, questions, answers) is only ever put in the
// page with textContent.
// What the customer page does alike is in common.js, loaded before this.
'use strict';

(function () {
  const common = window.frontdeskCommon;
  const { RETRY_FIRST_MS, PING_MS, $, el, showError, hideError } = common;

  const TICK_MS = 1000;
  // Matching degrees are calibrated: about the chance that the answer is right.
  // Under 0.5 a wrong answer is the likelier (low); from 0.8 it is rarely wrong (high).
  const DEGREE_LOW = 0.5;
  const DEGREE_HIGH = 0.8;
  const NOTICE_MS = 8000;
  // Set after signing in, cleared on signing out: whether opening the page should
  // try the session cookie before asking to sign in. Not a secret (the cookie is
  // HttpOnly); it only spares first visitors a refused connection.
  const KEY_SIGNED_IN = 'frontdesk.agent.signedIn';

  // ---------------------------------------------------------------- translations

  const STRINGS = {
    en: {
      pageTitle: 'Agent console',
      brand: 'Agent console',
      availability: 'Availability',
      goIdle: 'Idle',
      goAway: 'Away',
      logout: 'Log out',
      dismiss: 'Dismiss',
      loginTitle: 'Sign in to take customers',
      username: 'Username',
      password: 'Password',
      login: 'Sign in',
      signingIn: 'Signing in…',
      loginMissing: 'Enter your username and password.',
      loginWrong: 'Wrong username or password.',
      loginThrottled: (s) => `Too many attempts, try again in ${s} s.`,
      loginFailed: 'Could not sign in. Check the connection and try again.',
      sessionEnded: 'Your session has ended. Please sign in again.',
      logoutFailed: 'Could not log out. Check the connection and try again.',
      supersededTitle: 'Open in another window',
      superseded: 'You opened the console in another window or tab; it has your customers now.',
      takeOver: 'Use this window',
      connecting: 'Connecting…',
      reconnecting: 'Reconnecting…',
      queueTitle: 'Waiting',
      queueEmpty: 'No one is waiting.',
      queueMore: (n) => `and ${n} more`,
      idle: 'Idle',
      busy: 'Busy',
      away: 'Away',
      offline: 'Offline',
      state_idle: 'Idle — taking customers',
      state_busy: 'Busy',
      state_away: 'Away',
      state_offline: 'Offline',
      inHand: 'Customers in hand',
      conversation: 'Conversation',
      emptyIdleTitle: 'Waiting for the next customer',
      emptyIdleText: 'You are in the idle queue: the next customer comes to you here.',
      emptyAwayTitle: 'You are away',
      emptyAwayText: 'Choose Idle to take customers.',
      endService: 'End service',
      ending: 'Ending…',
      replyLabel: 'Reply',
      replyPlaceholder: 'Write a reply — Enter sends, Shift+Enter for a new line',
      send: 'Send',
      sending: 'Sending…',
      contextTitle: 'Customer',
      phone: 'Phone',
      tier: 'Tier',
      need: 'Asked for',
      waited: 'Waited',
      inService: 'With you',
      viewedTitle: 'Viewed in this consultation',
      viewedEmpty: 'Nothing chosen before asking for an agent.',
      need_chat: 'Chat',
      need_voice: 'Call',
      online: 'Online',
      customerOffline: 'Offline — waiting for them to come back',
      customer: 'Customer',
      you: 'You',
      newCustomer: 'New customer',
      ended_agent: (p) => `The service with ${p} has ended.`,
      ended_customer: (p) => `${p} ended the consultation.`,
      ended_abandoned: (p) => `${p} left and did not come back.`,
      ended_agent_lost: (p) => `${p} went back to the queue: your connection was gone too long.`,
      kind_submenu: 'menu',
      kind_content: 'read',
      kind_chat: 'chat',
      kind_voice: 'call',
      kind_bot: 'assistant',
      botTitle: 'Bot conversation',
      botQuestions: (n) => (n === 1 ? '1 question' : `${n} questions`),
      botMean: (m) => `mean ${m}`,
      botOffered: 'A person was offered',
      botNoAnswer: 'No answer',
      degree: (d) => `Matching degree ${d}`,
      showAnswer: 'Show the whole answer',
      handoff: (single, mean, pressure) => `Bot offers a person under ${single} (mean ${mean}) · pressure ${pressure}`,
      handoffHint: 'The bot offers a person when an answer’s matching degree is under the first figure, '
        + 'or the mean of the conversation is under the second. Both rise when agents are idle and fall '
        + 'when they are swamped (pressure 0 to 1).',
      errors: {
        not_your_customer: 'That customer is no longer yours.',
        rate_limited: 'Too fast: wait a moment.',
        message_too_large: 'That message is too long.',
        internal: 'Something went wrong on the server. Please try again.',
      },
    },
    zh: {
      pageTitle: '客服工作台',
      brand: '客服工作台',
      availability: '接待状态',
      goIdle: '空闲',
      goAway: '离开',
      logout: '退出登录',
      dismiss: '关闭',
      loginTitle: '登录以接待客户',
      username: '用户名',
      password: '密码',
      login: '登录',
      signingIn: '正在登录…',
      loginMissing: '请输入用户名和密码。',
      loginWrong: '用户名或密码错误。',
      loginThrottled: (s) => `尝试次数过多，请在 ${s} 秒后重试。`,
      loginFailed: '无法登录，请检查网络后重试。',
      sessionEnded: '登录已失效，请重新登录。',
      logoutFailed: '无法退出登录，请检查网络后重试。',
      supersededTitle: '已在其他窗口打开',
      superseded: '您已在另一个窗口或标签页中打开工作台，您的客户已转到那里。',
      takeOver: '在此窗口使用',
      connecting: '正在连接…',
      reconnecting: '正在重新连接…',
      queueTitle: '排队中',
      queueEmpty: '目前没有客户排队。',
      queueMore: (n) => `还有 ${n} 位`,
      idle: '空闲',
      busy: '忙碌',
      away: '离开',
      offline: '离线',
      state_idle: '空闲 — 正在接待',
      state_busy: '忙碌',
      state_away: '离开',
      state_offline: '离线',
      inHand: '正在接待的客户',
      conversation: '对话',
      emptyIdleTitle: '等待下一位客户',
      emptyIdleText: '您已在空闲队列中，下一位客户会出现在这里。',
      emptyAwayTitle: '您处于离开状态',
      emptyAwayText: '选择“空闲”开始接待客户。',
      endService: '结束服务',
      ending: '正在结束…',
      replyLabel: '回复',
      replyPlaceholder: '输入回复 — Enter 发送，Shift+Enter 换行',
      send: '发送',
      sending: '正在发送…',
      contextTitle: '客户',
      phone: '电话',
      tier: '等级',
      need: '需求',
      waited: '等待时长',
      inService: '接待时长',
      viewedTitle: '本次咨询中浏览过',
      viewedEmpty: '转人工前没有选择其他服务。',
      need_chat: '在线客服',
      need_voice: '电话',
      online: '在线',
      customerOffline: '离线 — 等待客户回来',
      customer: '客户',
      you: '我',
      newCustomer: '新客户',
      ended_agent: (p) => `与 ${p} 的服务已结束。`,
      ended_customer: (p) => `${p} 结束了咨询。`,
      ended_abandoned: (p) => `${p} 已离开，未再回来。`,
      ended_agent_lost: (p) => `${p} 已回到队列：您的连接中断时间过长。`,
      kind_submenu: '菜单',
      kind_content: '阅读',
      kind_chat: '在线客服',
      kind_voice: '电话',
      kind_bot: '智能助手',
      botTitle: '机器人对话',
      botQuestions: (n) => `${n} 个问题`,
      botMean: (m) => `平均 ${m}`,
      botOffered: '已提议转人工',
      botNoAnswer: '无回答',
      degree: (d) => `匹配度 ${d}`,
      showAnswer: '显示完整回答',
      handoff: (single, mean, pressure) => `匹配度低于 ${single}（平均低于 ${mean}）时提议转人工 · 压力 ${pressure}`,
      handoffHint: '当某个回答的匹配度低于第一个数值，或整段对话的平均匹配度低于第二个数值时，机器人会提议转人工。'
        + '客服空闲时两个数值升高，客服繁忙时降低（压力从 0 到 1）。',
      errors: {
        not_your_customer: '该客户已不由您接待。',
        rate_limited: '操作过快，请稍候。',
        message_too_large: '消息过长。',
        internal: '服务器出错，请重试。',
      },
    },
  };

  const { t, errorText, translatePage, time: TIME } = common.translations(STRINGS);

  // ---------------------------------------------------------------- state

  const state = {
    view: 'loading',     // loading | login | console
    token: null,         // the login token, kept in memory only (the cookie is what counts)
    agent: null,         // { id, username, name, chat_capacity }
    me: 'offline',       // idle | busy | away | offline
    // `handoff`: the bot's thresholds { single, mean, pressure }, or null.
    queue: { length: 0, waiting: [], idle: 0, busy: 0, away: 0, handoff: null },
    // Customers in hand by service id, in the order they came:
    // { view (the ServiceView), lines: Map seq → line, online, unread, fresh, ending, draft }.
    services: new Map(),
    active: null,        // the service on display
    everWelcomed: false, // a welcome arrived since the last sign-in or page load
  };

  // Replies not yet acknowledged: { service, id, text, sent: on the current socket }.
  const says = [];
  const nextSayId = common.messageIds('a');

  // ---------------------------------------------------------------- connection

  const conn = {
    ...common.socketMethods,
    ws: null,
    welcomed: false,
    wanted: false,        // a socket should be open (signed in)
    retryDelay: RETRY_FIRST_MS,
    retryTimer: null,
    openedAt: 0,
    lastPingAt: 0,
    awaitingSince: 0,
    nonce: 0,

    start() {
      this.wanted = true;
      this.retryDelay = RETRY_FIRST_MS;
      this.connect();
    },

    connect() {
      this.cancelRetry();
      if (!this.wanted) return;
      if (!this.openSocket('/agent/ws', handle)) {
        setTimeout(() => this.closed(null), 0);
        return;
      }
      renderConn();
    },

    send(msg) {
      if (!this.ready()) return false;
      try { this.ws.send(JSON.stringify(msg)); return true; } catch (_) { return false; }
    },

    welcome() {
      this.welcomed = true;
      this.retryDelay = RETRY_FIRST_MS;
      this.lastPingAt = Date.now();
    },

    tick() {
      if (!this.ws) return;
      const now = Date.now();
      if (this.overdue(now)) {
        this.drop();
      } else if (this.welcomed && now - this.lastPingAt >= PING_MS) {
        this.lastPingAt = now;
        if (!this.awaitingSince) this.awaitingSince = now;
        this.nonce += 1;
        this.send({ type: 'ping', nonce: this.nonce });
      }
    },

    closed(ws) {
      if (ws !== this.ws) return;
      const wasWelcomed = this.welcomed;
      this.ws = null;
      this.welcomed = false;
      for (const m of says) m.sent = false;
      renderConn();
      if (!this.wanted) return;
      if (!wasWelcomed) {
        onRefused();
        return;
      }
      this.retry();
    },

    retry() {
      if (this.retryTimer || this.ws || !this.wanted) return;
      // Jitter, so agents cut off together do not all come back in the same instant.
      this.retryAfter(this.retryDelay * (0.75 + Math.random() * 0.5));
      renderConn();
    },

    nudge() {
      this.retryNow();
    },

    stop() {
      this.wanted = false;
      this.cancelRetry();
      this.release();
      renderConn();
    },
  };

  // The socket closed before `welcome`. A browser does not say why an upgrade
  // failed, so ask a REST endpoint that takes the same cookie: 401 means we are
  // not (or no longer) signed in; anything else is a network or server hiccup,
  // retried. (A plain GET of /agent/ws would not tell: it is refused for not
  // being an upgrade before the login is looked at.)
  async function onRefused() {
    if (!state.everWelcomed && !state.token) {
      forgetSignedIn();
      // The page was opened without a session: sign in first.
      conn.stop();
      showLogin('');
      return;
    }
    let status = 0;
    try {
      const r = await fetch('/api/queue', { credentials: 'same-origin', cache: 'no-store' });
      status = r.status;
    } catch (_) { /* the server is unreachable: retry */ }
    if (!conn.wanted) return;
    if (status === 401) {
      signedOut();
      forgetSignedIn();
      showLogin(t('sessionEnded'));
      return;
    }
    conn.retry();
  }

  // ---------------------------------------------------------------- messages

  function handle(msg) {
    switch (msg.type) {
      case 'welcome': onWelcome(msg); break;
      case 'state': setMe(msg.state); break;
      case 'queue': onQueue(msg.queue); break;
      case 'assigned': onAssigned(msg.service); break;
      case 'chat': onChat(msg); break;
      case 'said': onSaid(msg); break;
      case 'customer_status': onCustomerStatus(msg); break;
      case 'service_ended': onServiceEnded(msg); break;
      case 'error': onError(msg); break;
      default: break; // pong: hearing it was the point
    }
  }

  function onWelcome(msg) {
    conn.welcome();
    state.everWelcomed = true;
    state.agent = msg.agent || null;
    const fresh = new Map();
    for (const view of Array.isArray(msg.services) ? msg.services : []) {
      fresh.set(view.id, mergeService(view, state.services.get(view.id)));
    }
    state.services = fresh;
    // Replies for customers no longer in hand will never be stored.
    for (let i = says.length - 1; i >= 0; i -= 1) {
      if (!fresh.has(says[i].service)) says.splice(i, 1);
    }
    if (!state.services.has(state.active)) state.active = firstService();
    setMe(msg.state);
    onQueue(msg.queue);
    showView('console');
    renderConn();
    renderServices();
    flushSays();
    // An end asked for before the drop, for a customer still in hand: ask again.
    for (const [id, s] of state.services) {
      if (s.ending) conn.send({ type: 'end_service', service: id });
    }
  }

  // A service as the server sends it, keeping what this page knew about it.
  function mergeService(view, old) {
    const s = old || { lines: new Map(), unread: 0, fresh: false, ending: false, draft: '' };
    s.view = view;
    s.online = view.customer_online !== false;
    for (const line of Array.isArray(view.messages) ? view.messages : []) addLine(s, view.id, line);
    return s;
  }

  function firstService() {
    const first = state.services.keys().next();
    return first.done ? null : first.value;
  }

  function setMe(me) {
    state.me = typeof me === 'string' ? me : 'offline';
    renderMe();
    renderEmpty();
  }

  function onQueue(queue) {
    if (!queue) return;
    state.queue = {
      length: Number(queue.length) || 0,
      waiting: Array.isArray(queue.waiting) ? queue.waiting : [],
      idle: Number(queue.idle) || 0,
      busy: Number(queue.busy) || 0,
      away: Number(queue.away) || 0,
      handoff: handoffOf(queue.handoff),
    };
    renderQueue();
  }

  function handoffOf(h) {
    if (!h || typeof h !== 'object') return null;
    const single = Number(h.single);
    const mean = Number(h.mean);
    const pressure = Number(h.pressure);
    if (![single, mean, pressure].every(Number.isFinite)) return null;
    return { single, mean, pressure };
  }

  function onAssigned(view) {
    if (!view || typeof view.id !== 'string') return;
    const s = mergeService(view, state.services.get(view.id));
    s.fresh = true;
    state.services.set(view.id, s);
    // Do not pull the agent away from a customer they are answering.
    if (!state.active || !state.services.has(state.active)) state.active = view.id;
    renderServices();
    attention();
  }

  function onChat(msg) {
    const s = state.services.get(msg.service);
    if (!s || !msg.line) return;
    const added = addLine(s, msg.service, msg.line);
    if (added && msg.service !== state.active) s.unread += 1;
    if (added && document.hidden) flashTitle(t('customer'));
    if (msg.service === state.active) renderTranscript(false);
    renderTabs();
  }

  function onSaid(msg) {
    const i = says.findIndex((m) => m.id === msg.id);
    const mine = i >= 0 ? says.splice(i, 1)[0] : null;
    const s = state.services.get(msg.service);
    if (s && mine) {
      addLine(s, msg.service, { seq: msg.seq, from: 'agent', text: mine.text, at_ms: msg.at_ms, id: msg.id });
    }
    if (msg.service === state.active) renderTranscript(false);
  }

  function onCustomerStatus(msg) {
    const s = state.services.get(msg.service);
    if (!s) return;
    s.online = !!msg.online;
    renderTabs();
    if (msg.service === state.active) renderService();
  }

  function onServiceEnded(msg) {
    const s = state.services.get(msg.service);
    if (!s) return;
    state.services.delete(msg.service);
    for (let i = says.length - 1; i >= 0; i -= 1) {
      if (says[i].service === msg.service) says.splice(i, 1);
    }
    const reason = ['agent', 'customer', 'abandoned', 'agent_lost'].includes(msg.reason) ? msg.reason : 'agent';
    showNotice(t(`ended_${reason}`, s.view.phone));
    if (state.active === msg.service) state.active = firstService();
    renderServices();
  }

  function onError(msg) {
    if (msg.error === 'superseded') {
      // The console was opened in another window, which has the agent now;
      // reconnecting from here would take it back and forth.
      conn.stop();
      showView('superseded');
      return;
    }
    if (msg.error === 'shutting_down' || msg.error === 'idle_timeout') return; // we reconnect
    if (msg.error === 'rate_limited') {
      // The refused frame is not named (it was not read): it may have been a
      // reply or an end of service. Both are safe to send again (a stored reply
      // is answered `said` with `duplicate`), so everything unanswered goes again
      // once the wait is over.
      for (const m of says) m.sent = false;
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        retryTimer = null;
        flushSays();
        for (const [id, s] of state.services) {
          if (s.ending) conn.send({ type: 'end_service', service: id });
        }
      }, Number(msg.retry_after_ms) || 1000);
      return;
    }
    if (typeof msg.id === 'string') {
      const i = says.findIndex((m) => m.id === msg.id);
      if (i >= 0) {
        says.splice(i, 1);
        renderTranscript(false);
      }
    } else if (msg.error === 'not_your_customer' && state.services.has(msg.service)) {
      // It is over, or someone else's: nothing more to do with it here.
      state.services.delete(msg.service);
      if (state.active === msg.service) state.active = firstService();
      renderServices();
    }
    showError(errorText(msg.error, msg.message));
  }

  // Lines are kept by seq: each is shown once however often it arrives. A line of
  // ours that arrives (in a welcome after a reconnect) was stored: it leaves the outbox.
  function addLine(s, service, line) {
    if (!line || typeof line.seq !== 'number') return false;
    const known = s.lines.has(line.seq);
    s.lines.set(line.seq, line);
    if (line.from === 'agent') {
      const i = says.findIndex((m) => m.id === line.id && m.service === service);
      if (i >= 0) says.splice(i, 1);
    }
    return !known;
  }

  // ---------------------------------------------------------------- actions

  function say(service, text) {
    says.push({ service, id: nextSayId(), text, sent: false });
    flushSays();
    renderTranscript(true);
  }

  let retryTimer = null; // after `rate_limited`: nothing goes out before it fires

  function flushSays() {
    if (retryTimer) return;
    for (const m of says) {
      if (m.sent || !state.services.has(m.service)) continue;
      m.sent = conn.send({ type: 'say', service: m.service, id: m.id, text: m.text });
      if (!m.sent) return;
    }
  }

  function presence(choice) {
    if (!conn.ready()) return;
    conn.send({ type: 'presence', state: choice });
  }

  function endService(id) {
    const s = state.services.get(id);
    if (!s || s.ending) return;
    s.ending = true;
    conn.send({ type: 'end_service', service: id });
    renderService();
  }

  async function signIn(username, password) {
    setSigningIn(true);
    let r;
    try {
      r = await fetch('/api/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      });
    } catch (_) {
      setSigningIn(false);
      loginError(t('loginFailed'));
      return;
    }
    if (r.status === 429) {
      const wait = Math.max(1, Math.ceil(Number(r.headers.get('retry-after')) || 1));
      throttle(wait);
      return;
    }
    if (r.status === 401) {
      setSigningIn(false);
      loginError(t('loginWrong'));
      $('password').select();
      return;
    }
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    if (!r.ok || !body) {
      setSigningIn(false);
      loginError((body && body.message) || t('loginFailed'));
      return;
    }
    state.token = typeof body.token === 'string' ? body.token : null;
    try { localStorage.setItem(KEY_SIGNED_IN, '1'); } catch (_) { /* a hint only */ }
    $('password').value = '';
    setSigningIn(false);
    loginError('');
    showView('loading');
    conn.start();
  }

  // 429: the button says how long to wait, counting down.
  let throttleTimer = null;
  function throttle(seconds) {
    clearInterval(throttleTimer);
    let left = seconds;
    const show = () => loginError(t('loginThrottled', left));
    show();
    $('login').setAttribute('aria-disabled', 'true');
    state.signingIn = true;
    throttleTimer = setInterval(() => {
      left -= 1;
      if (left > 0) {
        show();
        return;
      }
      clearInterval(throttleTimer);
      throttleTimer = null;
      loginError('');
      setSigningIn(false);
    }, 1000);
  }

  async function signOut() {
    const headers = state.token ? { authorization: `Bearer ${state.token}` } : {};
    try {
      await fetch('/api/logout', { method: 'POST', credentials: 'same-origin', headers });
    } catch (_) {
      showError(t('logoutFailed'));
      return;
    }
    signedOut();
    forgetSignedIn();
    showLogin('');
  }

  function forgetSignedIn() {
    try { localStorage.removeItem(KEY_SIGNED_IN); } catch (_) { /* a hint only */ }
  }

  function signedOut() {
    conn.stop();
    Object.assign(state, {
      token: null, agent: null, me: 'offline', active: null, everWelcomed: false,
      queue: { length: 0, waiting: [], idle: 0, busy: 0, away: 0, handoff: null },
    });
    state.services = new Map();
    says.length = 0;
    stopFlash();
  }

  // ---------------------------------------------------------------- attention

  // A new customer: the title flashes (also seen from another tab) until the agent
  // is back at the console, and their tab glows.
  const BASE_TITLE = () => t('pageTitle');
  let flashTimer = null;
  let flashUntil = 0;

  function attention() {
    flashTitle(t('newCustomer'));
    const card = $('service');
    card.classList.remove('arrived');
    void card.offsetWidth; // restart the animation
    card.classList.add('arrived');
    // Gone once played, so showing the card again later does not replay it.
    card.addEventListener('animationend', () => card.classList.remove('arrived'), { once: true });
  }

  function flashTitle(text) {
    stopFlash();
    let on = true;
    // In a visible, focused window a few seconds are enough; otherwise until seen.
    flashUntil = document.hasFocus() && !document.hidden ? Date.now() + 6000 : Infinity;
    document.title = `● ${text} — ${BASE_TITLE()}`;
    flashTimer = setInterval(() => {
      if (Date.now() > flashUntil) {
        stopFlash();
        return;
      }
      on = !on;
      document.title = on ? `● ${text} — ${BASE_TITLE()}` : BASE_TITLE();
    }, 1000);
  }

  function stopFlash() {
    clearInterval(flashTimer);
    flashTimer = null;
    document.title = BASE_TITLE();
  }

  function seen() {
    if (flashTimer && flashUntil === Infinity) flashUntil = Date.now() + 2000;
  }

  // ---------------------------------------------------------------- rendering

  const VIEWS = {
    loading: 'loading-view', login: 'login-view', console: 'console-view', superseded: 'superseded-view',
  };

  function showView(name) {
    state.view = name;
    for (const [key, id] of Object.entries(VIEWS)) $(id).hidden = key !== name;
    $('me').hidden = name !== 'console';
  }

  function showLogin(message) {
    showView('login');
    loginError(message);
    setSigningIn(false);
    $(($('username').value ? 'password' : 'username')).focus();
  }

  function setSigningIn(on) {
    state.signingIn = on;
    $('login').setAttribute('aria-disabled', on ? 'true' : 'false');
    $('login').textContent = t(on ? 'signingIn' : 'login');
  }

  function loginError(text) {
    $('login-error').textContent = text;
  }

  let noticeTimer = null;
  function showNotice(text) {
    $('notice').textContent = text;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { $('notice').textContent = ''; }, NOTICE_MS);
  }

  function renderConn() {
    let text = '';
    if (conn.wanted && !conn.ready() && state.everWelcomed) text = t('reconnecting');
    else if (conn.wanted && !conn.ready()) text = t('connecting');
    $('conn').textContent = text;
    const off = !conn.ready();
    // Replies can be written and sent while reconnecting (the outbox keeps them);
    // presence and ending a service need the server.
    for (const id of ['go-idle', 'go-away', 'end-service']) {
      $(id).setAttribute('aria-disabled', off ? 'true' : 'false');
    }
    if (!off) renderService();
  }

  function renderMe() {
    $('me-name').textContent = state.agent ? state.agent.name : '';
    const me = ['idle', 'busy', 'away', 'offline'].includes(state.me) ? state.me : 'offline';
    const pill = $('me-state');
    pill.textContent = t(`state_${me}`);
    pill.dataset.state = me;
    $('go-idle').setAttribute('aria-pressed', me === 'idle' || me === 'busy' ? 'true' : 'false');
    $('go-away').setAttribute('aria-pressed', me === 'away' ? 'true' : 'false');
  }

  // "4:05", "1:02:03": how long, in a form that reads at a glance.
  function duration(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
  }

  function renderQueue() {
    const q = state.queue;
    $('queue-length').textContent = String(q.length);
    $('count-idle').textContent = String(q.idle);
    $('count-busy').textContent = String(q.busy);
    $('count-away').textContent = String(q.away);
    const list = $('queue-list');
    list.textContent = '';
    for (const w of q.waiting) {
      const li = el('li', { class: 'waiting', 'data-consultation': String(w.consultation) });
      li.append(el('span', { class: 'waiting-phone' }, w.phone));
      li.append(el('span', { class: 'tier', 'data-tier': String(w.tier) }, w.tier));
      const need = el('span', { class: 'waiting-need' }, t(`need_${w.need}`));
      li.append(need);
      li.append(el('span', { class: 'waiting-time', 'data-since': String(w.since_ms) }, duration(Date.now() - w.since_ms)));
      list.append(li);
    }
    $('queue-empty').hidden = q.length > 0;
    const more = q.length - q.waiting.length;
    $('queue-more').hidden = more <= 0;
    $('queue-more').textContent = more > 0 ? t('queueMore', more) : '';
    renderHandoff();
  }

  // The bot's live thresholds, and the pressure that set them as a small bar.
  function renderHandoff() {
    const h = state.queue.handoff;
    $('handoff').hidden = !h;
    if (!h) return;
    $('handoff-text').textContent = t('handoff', fixed(h.single), fixed(h.mean), fixed(h.pressure));
    $('handoff').title = t('handoffHint');
    const pressure = Math.min(1, Math.max(0, h.pressure));
    const fill = $('pressure-fill');
    fill.style.width = `${Math.round(pressure * 100)}%`;
    fill.dataset.pressure = pressure < 1 / 3 ? 'low' : (pressure < 2 / 3 ? 'medium' : 'high');
  }

  // "0.50": degrees, thresholds and pressure all read as two decimals.
  function fixed(x) {
    return Number(x).toFixed(2);
  }

  function degreeLevel(d) {
    if (d < DEGREE_LOW) return 'low';
    return d < DEGREE_HIGH ? 'medium' : 'high';
  }

  // Every second: the clocks move.
  function tick() {
    const now = Date.now();
    for (const n of document.querySelectorAll('#queue-list .waiting-time')) {
      n.textContent = duration(now - Number(n.dataset.since));
    }
    const s = state.services.get(state.active);
    if (s) $('ctx-with').textContent = duration(now - s.view.started_ms);
    conn.tick();
  }

  function renderServices() {
    renderTabs();
    renderService();
    renderEmpty();
  }

  function renderEmpty() {
    const none = state.services.size === 0;
    $('empty').hidden = !none;
    $('service').hidden = none;
    const away = state.me === 'away' || state.me === 'offline';
    $('empty-title').textContent = t(away ? 'emptyAwayTitle' : 'emptyIdleTitle');
    $('empty-text').textContent = t(away ? 'emptyAwayText' : 'emptyIdleText');
  }

  // Tabs when more than one customer can be in hand.
  function renderTabs() {
    const tabs = $('tabs');
    const capacity = state.agent ? Number(state.agent.chat_capacity) || 1 : 1;
    tabs.hidden = capacity <= 1 && state.services.size <= 1;
    tabs.textContent = '';
    for (const [id, s] of state.services) {
      const selected = id === state.active;
      const tab = el('button', {
        type: 'button', role: 'tab', class: 'tab', id: `tab-${tabs.children.length}`,
        'data-service': id, 'aria-selected': selected ? 'true' : 'false', tabindex: selected ? '0' : '-1',
        'aria-controls': 'service',
      });
      tab.append(el('span', { class: 'tab-phone' }, s.view.phone));
      if (!s.online) tab.append(el('span', { class: 'dot offline', title: t('customerOffline') }));
      if (s.unread) tab.append(el('span', { class: 'badge' }, String(s.unread)));
      // The card on display glows by itself; a new customer behind another tab
      // makes that tab glow until opened.
      if (selected) s.fresh = false;
      if (s.fresh) tab.classList.add('fresh');
      tabs.append(tab);
    }
  }

  function renderService() {
    const s = state.services.get(state.active);
    if (!s) return;
    const v = s.view;
    $('svc-phone').textContent = v.phone;
    const tier = $('svc-tier');
    tier.textContent = v.tier;
    tier.dataset.tier = String(v.tier);
    const presenceNode = $('svc-online');
    presenceNode.textContent = s.online ? t('online') : t('customerOffline');
    presenceNode.dataset.online = s.online ? 'true' : 'false';
    $('svc-time').textContent = '';
    $('ctx-phone').textContent = v.phone;
    $('ctx-tier').textContent = v.tier;
    $('ctx-need').textContent = t(`need_${v.need}`);
    $('ctx-waited').textContent = duration(v.started_ms - v.queued_ms);
    $('ctx-with').textContent = duration(Date.now() - v.started_ms);
    const end = $('end-service');
    end.textContent = t(s.ending ? 'ending' : 'endService');
    end.setAttribute('aria-disabled', s.ending || !conn.ready() ? 'true' : 'false');

    const viewed = $('viewed');
    viewed.textContent = '';
    const items = Array.isArray(v.viewed) ? v.viewed : [];
    for (const item of items) {
      const li = el('li', { class: 'viewed-item', 'data-item': String(item.item) });
      li.append(el('span', { class: 'viewed-title' }, item.title));
      li.append(el('span', { class: 'viewed-kind' }, t(`kind_${item.kind}`)));
      viewed.append(li);
    }
    $('viewed-empty').hidden = items.length > 0;
    renderBotLog(v);
    renderTranscript(true);
  }

  // What the customer asked the bot before reaching a person: each question, the
  // library entry and the answer they saw (two lines, the rest on demand), and the
  // matching degree as a figure and a bar; turns after which a person was offered
  // are marked.
  function renderBotLog(v) {
    const turns = Array.isArray(v.bot) ? v.bot : [];
    $('bot-log').hidden = turns.length === 0;
    const list = $('bot-turns');
    list.textContent = '';
    if (turns.length === 0) return;
    const summary = $('bot-summary');
    summary.textContent = '';
    summary.append(el('span', {}, t('botQuestions', turns.length)));
    if (typeof v.bot_mean === 'number') {
      summary.append(el('span', { class: 'degree-chip', 'data-level': degreeLevel(v.bot_mean) }, t('botMean', fixed(v.bot_mean))));
    }
    for (const turn of turns) {
      const degree = Number(turn.degree) || 0;
      const level = degreeLevel(degree);
      const li = el('li', { class: 'bot-turn', 'data-level': level, 'data-offered': turn.offered ? 'true' : 'false' });
      const head = el('div', { class: 'bot-turn-head' });
      head.append(el('p', { class: 'bot-q' }, String(turn.question)));
      const meter = el('span', { class: 'degree', 'data-level': level, title: t('degree', fixed(degree)) });
      const bar = el('span', { class: 'degree-bar', 'aria-hidden': 'true' });
      const fill = el('span', { class: 'degree-fill' });
      fill.style.width = `${Math.round(Math.min(1, Math.max(0, degree)) * 100)}%`;
      bar.append(fill);
      meter.append(bar);
      meter.append(el('span', { class: 'degree-num' }, fixed(degree)));
      head.append(meter);
      li.append(head);
      const answer = el('p', { class: 'bot-a' });
      if (typeof turn.entry === 'string') answer.append(el('span', { class: 'bot-entry' }, turn.entry));
      if (typeof turn.answer === 'string') {
        const text = el('span', { class: 'bot-a-text' }, turn.answer);
        answer.append(text);
        // Clamped to two lines; a click (or Enter) shows the whole answer.
        answer.setAttribute('role', 'button');
        answer.setAttribute('tabindex', '0');
        answer.setAttribute('aria-expanded', 'false');
        answer.title = t('showAnswer');
      } else {
        answer.append(el('span', { class: 'bot-a-text none' }, t('botNoAnswer')));
      }
      li.append(answer);
      if (turn.offered) li.append(el('p', { class: 'bot-offered' }, t('botOffered')));
      list.append(li);
    }
  }

  function toggleAnswer(node) {
    const open = node.getAttribute('aria-expanded') !== 'true';
    node.setAttribute('aria-expanded', open ? 'true' : 'false');
  }

  function renderTranscript(toBottom) {
    const s = state.services.get(state.active);
    const list = $('transcript');
    if (!s) {
      list.textContent = '';
      return;
    }
    const pending = says.filter((m) => m.service === state.active).map((m) => ({ from: 'agent', text: m.text }));
    common.showLines(list, s.lines, pending, renderLine, toBottom);
  }

  function renderLine(line, pending) {
    const mine = line.from === 'agent';
    const li = el('li', { class: `line ${mine ? 'mine' : 'theirs'}${pending ? ' pending' : ''}` });
    if (typeof line.seq === 'number') li.dataset.seq = String(line.seq);
    const meta = el('span', { class: 'line-meta' });
    meta.textContent = `${mine ? t('you') : t('customer')}${pending ? ` · ${t('sending')}`
      : (TIME && typeof line.at_ms === 'number' ? ` · ${TIME.format(new Date(line.at_ms))}` : '')}`;
    li.append(meta);
    li.append(el('p', { class: 'line-text' }, line.text));
    return li;
  }

  function select(id) {
    const old = state.services.get(state.active);
    if (old) old.draft = $('reply').value;
    state.active = id;
    const s = state.services.get(id);
    if (s) {
      s.unread = 0;
      s.fresh = false;
      $('reply').value = s.draft || '';
    }
    renderServices();
  }

  // ---------------------------------------------------------------- events

  function wire() {
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (state.signingIn) return;
      const username = $('username').value.trim();
      const password = $('password').value;
      if (!username || !password) {
        loginError(t('loginMissing'));
        return;
      }
      hideError();
      signIn(username, password);
    });

    $('go-idle').addEventListener('click', () => presence('idle'));
    $('go-away').addEventListener('click', () => presence('away'));
    $('logout').addEventListener('click', () => signOut());
    $('error-dismiss').addEventListener('click', hideError);
    $('take-over').addEventListener('click', () => {
      showView('loading');
      conn.start();
    });

    $('bot-turns').addEventListener('click', (ev) => {
      const answer = ev.target.closest('.bot-a[role="button"]');
      if (answer) toggleAnswer(answer);
    });
    $('bot-turns').addEventListener('keydown', (ev) => {
      const answer = ev.target.closest('.bot-a[role="button"]');
      if (answer && (ev.key === 'Enter' || ev.key === ' ')) {
        ev.preventDefault();
        toggleAnswer(answer);
      }
    });

    $('tabs').addEventListener('click', (ev) => {
      const tab = ev.target.closest('button.tab');
      if (tab) select(tab.dataset.service);
    });
    $('tabs').addEventListener('keydown', (ev) => {
      if (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft') return;
      const ids = Array.from(state.services.keys());
      const i = ids.indexOf(state.active);
      if (i < 0 || ids.length < 2) return;
      const next = ids[(i + (ev.key === 'ArrowRight' ? 1 : ids.length - 1)) % ids.length];
      select(next);
      const tab = $('tabs').querySelector('button.tab[aria-selected="true"]');
      if (tab) tab.focus();
    });

    $('reply-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const s = state.services.get(state.active);
      const text = $('reply').value.trim();
      if (!s || !text || s.ending) return;
      $('reply').value = '';
      s.draft = '';
      s.fresh = false;
      say(state.active, text);
      renderTabs();
    });
    common.sendOnEnter($('reply'), $('reply-form'));
    $('end-service').addEventListener('click', () => {
      if (state.active && conn.ready()) endService(state.active);
    });

    for (const ev of ['pointerdown', 'keydown', 'focus']) window.addEventListener(ev, seen, true);
    common.whenBack(() => conn.nudge());
    setInterval(tick, TICK_MS);
  }

  // ---------------------------------------------------------------- start

  translatePage();
  wire();

  // A test hook: browser tests read the console's state from here.
  window.frontdeskAgent = {
    state: () => ({
      view: state.view,
      connected: conn.ready(),
      agent: state.agent && Object.assign({}, state.agent),
      state: state.me,
      queue: {
        length: state.queue.length,
        idle: state.queue.idle,
        busy: state.queue.busy,
        away: state.queue.away,
        waiting: state.queue.waiting.map((w) => ({ consultation: w.consultation, phone: w.phone, tier: w.tier })),
        handoff: state.queue.handoff && Object.assign({}, state.queue.handoff),
      },
      active: state.active,
      services: Array.from(state.services.values()).map((s) => ({
        id: s.view.id,
        consultation: s.view.consultation,
        phone: s.view.phone,
        tier: s.view.tier,
        online: s.online,
        unread: s.unread,
        viewed: (s.view.viewed || []).map((v) => v.item),
        bot: (Array.isArray(s.view.bot) ? s.view.bot : []).map((b) => ({
          question: b.question, entry: b.entry || null, degree: b.degree, offered: !!b.offered,
        })),
        botMean: typeof s.view.bot_mean === 'number' ? s.view.bot_mean : null,
        lines: common.inOrder(s.lines)
          .map((l) => ({ seq: l.seq, from: l.from, text: l.text, id: l.id })),
      })),
      says: says.map((m) => ({ service: m.service, id: m.id, text: m.text, sent: m.sent })),
    }),
    // Closes the socket as a dropped network would: the console must reconnect.
    dropConnection: () => {
      if (conn.ws) conn.ws.close();
    },
  };

  // A session cookie from an earlier visit may still be good: try it first.
  let signedInBefore = false;
  try { signedInBefore = localStorage.getItem(KEY_SIGNED_IN) === '1'; } catch (_) { signedInBefore = false; }
  if (signedInBefore) {
    showView('loading');
    conn.start();
  } else {
    showLogin('');
  }
}());
