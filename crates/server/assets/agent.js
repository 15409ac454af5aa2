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
// After (or during) a service the agent may text the customer a link to their own
// page ("Send my card": `send_card`, answered `card_sent`); the customer comes
// back through it to rate them or to ask for them again, and waits for them
// first (`queue.waiting[].for_agent`, shown "Waiting for you"). What that page
// shows of the agent (photo, slogan, contact number) they edit in "My profile",
// over REST with the same session cookie (`/api/agents/{id}/profile`, `/photo`).
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
  // The server's limit for a photo (PHOTO_MAX_BYTES): checked here first so a
  // large file is refused at once instead of after its upload.
  const PHOTO_MAX_BYTES = 512 * 1024;
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
      sendCard: 'Send my card',
      sendingCard: 'Sending…',
      cardSent: 'Card sent',
      cardAlready: 'Card already sent',
      cardFailed: 'Card not delivered',
      cardHint: 'Texts the customer a link to your page, where they can rate you and come back to you.',
      cardSentNotice: (p) => `Your card is on its way to ${p}.`,
      forYou: 'Waiting for you',
      forOther: 'Asked for another agent',
      myProfile: 'My profile',
      profileTitle: 'My profile',
      profileIntro: 'Customers see this on your page, from the link in the text message they get after a service.',
      close: 'Close',
      photoAlt: 'Your photo',
      photoUpload: 'Upload a photo',
      photoRemove: 'Remove photo',
      photoHint: 'PNG, JPEG, WebP or GIF, at most 512 KiB.',
      photoUploading: 'Uploading the photo…',
      photoSaved: 'Photo saved.',
      photoRemoved: 'Photo removed.',
      photoTooLarge: 'That photo is too large: at most 512 KiB.',
      photoNotImage: 'That file is not a PNG, JPEG, WebP or GIF image.',
      servedLabel: 'Customers served',
      satisfaction: 'Satisfaction',
      score: (m, n) => `${m} of 5 · ${n === 1 ? '1 rating' : `${n} ratings`}`,
      noRatings: 'No ratings yet',
      slogan: 'Slogan',
      sloganHint: 'One line under your name, at most 140 characters.',
      contact: 'Contact number',
      contactHint: 'Optional: customers can call it from your page.',
      save: 'Save',
      saving: 'Saving…',
      saved: 'Saved. Customers see it on your page.',
      profileLoading: 'Loading…',
      profileFailed: 'Could not reach the server. Check the connection and try again.',
      profileForbidden: 'You may change only your own profile.',
      sloganInvalid: 'The slogan must be one line of plain text, at most 140 characters.',
      contactInvalid: 'That contact number does not look right. Check it, or leave it empty.',
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
      sendCard: '发送我的名片',
      sendingCard: '正在发送…',
      cardSent: '名片已发送',
      cardAlready: '名片此前已发送',
      cardFailed: '名片未能送达',
      cardHint: '以短信向客户发送您页面的链接：客户可以在页面上评价您，并再次找到您。',
      cardSentNotice: (p) => `名片正在发送给 ${p}。`,
      forYou: '指定由您接待',
      forOther: '指定了其他客服',
      myProfile: '我的资料',
      profileTitle: '我的资料',
      profileIntro: '客户在服务结束后收到的短信链接会打开您的页面，并看到以下资料。',
      close: '关闭',
      photoAlt: '您的照片',
      photoUpload: '上传照片',
      photoRemove: '删除照片',
      photoHint: 'PNG、JPEG、WebP 或 GIF，不超过 512 KiB。',
      photoUploading: '正在上传照片…',
      photoSaved: '照片已保存。',
      photoRemoved: '照片已删除。',
      photoTooLarge: '照片过大：不能超过 512 KiB。',
      photoNotImage: '该文件不是 PNG、JPEG、WebP 或 GIF 图片。',
      servedLabel: '已服务客户',
      satisfaction: '满意度',
      score: (m, n) => `${m} / 5 · ${n} 条评价`,
      noRatings: '暂无评价',
      slogan: '个人签名',
      sloganHint: '显示在您姓名下方的一句话，最多 140 个字符。',
      contact: '联系电话',
      contactHint: '可选：客户可以在您的页面上拨打。',
      save: '保存',
      saving: '正在保存…',
      saved: '已保存，客户会在您的页面上看到。',
      profileLoading: '正在加载…',
      profileFailed: '无法连接服务器，请检查网络后重试。',
      profileForbidden: '您只能修改自己的资料。',
      sloganInvalid: '个人签名须为一行纯文本，最多 140 个字符。',
      contactInvalid: '联系电话似乎不正确，请检查，或留空。',
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
      case 'card_sent': onCardSent(msg); break;
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
    resendPending();
  }

  // An end or a card asked for before a drop (or a `rate_limited`), for a customer
  // still in hand: ask again. Both are safe to repeat: a card goes once per
  // service (a repeat is answered `duplicate`), and an end ends once.
  function resendPending() {
    for (const [id, s] of state.services) {
      if (s.ending) conn.send({ type: 'end_service', service: id });
      if (s.card === 'sending') {
        s.cardResent = true;
        conn.send({ type: 'send_card', service: id });
      }
    }
  }

  // A service as the server sends it, keeping what this page knew about it.
  function mergeService(view, old) {
    // `card`: null, 'sending' (asked, no answer yet), then 'sent', 'already' or
    // 'failed' from `card_sent`.
    const s = old || {
      lines: new Map(), unread: 0, fresh: false, ending: false, draft: '', card: null, cardResent: false,
    };
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

  // The card is stored and on its way (or was before: `duplicate`). A repeat we
  // sent ourselves after a drop answers our own first press: that card is ours.
  function onCardSent(msg) {
    const s = state.services.get(msg.service);
    if (!s) return;
    const ours = !msg.duplicate || (s.card === 'sending' && s.cardResent);
    if (msg.status === 'failed') s.card = 'failed';
    else s.card = ours ? 'sent' : 'already';
    s.cardResent = false;
    if (ours && msg.status !== 'failed') showNotice(t('cardSentNotice', s.view.phone));
    if (msg.service === state.active) renderService();
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
        resendPending();
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
    } else if (state.services.has(msg.service) && state.services.get(msg.service).card === 'sending') {
      // The card could not be issued (the server says why): the button may be pressed again.
      state.services.get(msg.service).card = null;
      if (msg.service === state.active) renderService();
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

  function sendCard(id) {
    const s = state.services.get(id);
    if (!s || s.card || s.ending) return;
    s.card = 'sending';
    s.cardResent = false;
    conn.send({ type: 'send_card', service: id });
    renderService();
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
    closeProfile();
  }

  // ---------------------------------------------------------------- my profile

  // What customers see of the agent on their page: over REST, authenticated by the
  // session cookie like the socket. `data`: the last AgentProfile read or saved.
  const profile = { data: null, busy: false };

  function profilePath(what) {
    return `/api/agents/${encodeURIComponent(String(state.agent.id))}/${what}`;
  }

  // { ok, status, body }; status 0 when the server could not be reached.
  async function profileFetch(method, what, body, type) {
    const headers = {};
    if (state.token) headers.authorization = `Bearer ${state.token}`;
    if (type) headers['content-type'] = type;
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) init.body = body;
    let r;
    try {
      r = await fetch(profilePath(what), init);
    } catch (_) {
      return { ok: false, status: 0, body: null };
    }
    let json = null;
    try { json = await r.json(); } catch (_) { json = null; }
    return { ok: r.ok, status: r.status, body: json };
  }

  function openProfile() {
    if (!state.agent) return;
    const dialog = $('profile');
    profileMessage('', '');
    markField(null);
    if (!dialog.open) dialog.showModal();
    showPhoto();
    loadProfile();
  }

  function closeProfile() {
    const dialog = $('profile');
    if (dialog.open) dialog.close();
  }

  async function loadProfile() {
    setProfileBusy(true, t('profileLoading'));
    const r = await profileFetch('GET', 'profile');
    setProfileBusy(false, '');
    if (!r.ok || !r.body) {
      profileFailed(r);
      return;
    }
    fillProfile(r.body, true);
  }

  // The figures always; the fields only when asked (not over what is being typed).
  function fillProfile(p, fields) {
    profile.data = p;
    $('profile-served').textContent = String(Number(p.served) || 0);
    const n = Number(p.ratings) || 0;
    $('profile-score').textContent = typeof p.satisfaction === 'number' && n > 0
      ? t('score', p.satisfaction.toFixed(1), n) : t('noRatings');
    if (fields) {
      $('profile-slogan').value = typeof p.slogan === 'string' ? p.slogan : '';
      $('profile-contact').value = typeof p.contact_phone === 'string' ? p.contact_phone : '';
    }
    $('profile-photo-remove').hidden = !p.has_photo;
  }

  // The photo as customers see it (the drawn default without one). The query
  // changes every time, so a new photo shows at once whatever the cache kept.
  function showPhoto() {
    const img = $('profile-photo');
    img.alt = t('photoAlt');
    img.src = `${profilePath('photo')}?v=${Date.now()}`;
  }

  async function saveProfile() {
    if (profile.busy || !state.agent) return;
    const body = JSON.stringify({
      slogan: $('profile-slogan').value.trim(),
      contact_phone: $('profile-contact').value.trim(),
    });
    profileMessage('', '');
    markField(null);
    setProfileBusy(true, t('saving'));
    const r = await profileFetch('PUT', 'profile', body, 'application/json');
    setProfileBusy(false, '');
    if (!r.ok || !r.body) {
      profileFailed(r);
      return;
    }
    fillProfile(r.body, true);
    profileMessage('', t('saved'));
  }

  async function uploadPhoto(file) {
    if (profile.busy || !state.agent) return;
    profileMessage('', '');
    if (file.size > PHOTO_MAX_BYTES) {
      profileMessage(t('photoTooLarge'), '');
      return;
    }
    // The raw bytes; the server reads the format from them, not from this type.
    await changePhoto(t('photoUploading'), t('photoSaved'), 'PUT', file,
      file.type || 'application/octet-stream');
  }

  async function removePhoto() {
    if (profile.busy || !state.agent) return;
    profileMessage('', '');
    await changePhoto('', t('photoRemoved'), 'DELETE');
  }

  // Uploads or removes the photo, then shows the profile the server answers with.
  async function changePhoto(busyText, doneText, method, body, type) {
    setProfileBusy(true, busyText);
    const r = await profileFetch(method, 'photo', body, type);
    setProfileBusy(false, '');
    if (!r.ok || !r.body) {
      profileFailed(r);
      return;
    }
    fillProfile(r.body, false);
    showPhoto();
    profileMessage('', doneText);
  }

  // Says what went wrong, in the dialog. A 422 names its field only in its English
  // message (its code is the generic `invalid_request`): the field is told by the
  // message's start, and our own text shown, else the server's.
  function profileFailed(r) {
    if (r.status === 401) {
      signedOut();
      forgetSignedIn();
      showLogin(t('sessionEnded'));
      return;
    }
    const message = r.body && typeof r.body.message === 'string' ? r.body.message : '';
    let text;
    if (r.status === 0) text = t('profileFailed');
    else if (r.status === 413) text = t('photoTooLarge');
    else if (r.status === 415) text = t('photoNotImage');
    else if (r.status === 403) text = t('profileForbidden');
    else if (r.status === 422 && message.startsWith('the slogan')) {
      text = t('sloganInvalid');
      markField('profile-slogan');
    } else if (r.status === 422 && message.startsWith('the contact number')) {
      text = t('contactInvalid');
      markField('profile-contact');
    } else text = message || errorText('internal');
    profileMessage(text, '');
  }

  function markField(id) {
    for (const f of ['profile-slogan', 'profile-contact']) {
      if (f === id) {
        $(f).setAttribute('aria-invalid', 'true');
        $(f).focus();
      } else {
        $(f).removeAttribute('aria-invalid');
      }
    }
  }

  function profileMessage(error, status) {
    $('profile-error').textContent = error;
    $('profile-status').textContent = status;
  }

  function setProfileBusy(on, text) {
    profile.busy = on;
    for (const id of ['profile-save', 'profile-upload', 'profile-photo-remove']) {
      $(id).setAttribute('aria-disabled', on ? 'true' : 'false');
    }
    $('profile-file').disabled = on;
    if (on) $('profile-status').textContent = text;
    $('profile-status').dataset.tone = on ? 'busy' : 'done';
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
    for (const id of ['go-idle', 'go-away', 'end-service', 'send-card']) {
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
      // Came back through an agent's link: that agent takes them first.
      if (w.for_agent !== undefined && w.for_agent !== null) {
        const mine = !!state.agent && Number(w.for_agent) === Number(state.agent.id);
        li.classList.add(mine ? 'for-me' : 'for-other');
        li.dataset.forAgent = String(w.for_agent);
        li.append(el('span', { class: 'waiting-for' }, t(mine ? 'forYou' : 'forOther')));
      }
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
    renderCardButton(s);

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

  // "Send my card": pressed once per customer; then it says what came of it.
  const CARD_LABELS = { sending: 'sendingCard', sent: 'cardSent', already: 'cardAlready', failed: 'cardFailed' };

  function renderCardButton(s) {
    const button = $('send-card');
    button.textContent = t(CARD_LABELS[s.card] || 'sendCard');
    button.dataset.card = s.card || '';
    button.title = t('cardHint');
    button.setAttribute('aria-disabled', s.card || s.ending || !conn.ready() ? 'true' : 'false');
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
    $('send-card').addEventListener('click', () => {
      if (state.active && conn.ready()) sendCard(state.active);
    });

    $('profile-open').addEventListener('click', openProfile);
    $('profile-close').addEventListener('click', closeProfile);
    $('profile-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      saveProfile();
    });
    $('profile-file').addEventListener('change', () => {
      const input = $('profile-file');
      const file = input.files && input.files[0];
      // Cleared, so choosing the same file again is a change too.
      input.value = '';
      if (file) uploadPhoto(file);
    });
    $('profile-photo-remove').addEventListener('click', removePhoto);

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
        waiting: state.queue.waiting.map((w) => ({
          consultation: w.consultation, phone: w.phone, tier: w.tier, forAgent: w.for_agent === undefined ? null : w.for_agent,
        })),
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
        card: s.card,
        viewed: (s.view.viewed || []).map((v) => v.item),
        bot: (Array.isArray(s.view.bot) ? s.view.bot : []).map((b) => ({
          question: b.question, entry: b.entry || null, degree: b.degree, offered: !!b.offered,
        })),
        botMean: typeof s.view.bot_mean === 'number' ? s.view.bot_mean : null,
        lines: common.inOrder(s.lines)
          .map((l) => ({ seq: l.seq, from: l.from, text: l.text, id: l.id })),
      })),
      says: says.map((m) => ({ service: m.service, id: m.id, text: m.text, sent: m.sent })),
      profile: {
        open: $('profile').open,
        busy: profile.busy,
        data: profile.data && Object.assign({}, profile.data),
        error: $('profile-error').textContent,
        status: $('profile-status').textContent,
      },
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
