// frontdesk customer page: the digital service menu.
//
// One WebSocket to /ws speaks the protocol in crates/protocol/src/lib.rs. The page is
// built to survive flaky mobile networks: every numbered request stays in an outbox
// until the server says it is durably recorded (`ack`), and after a dropped
// connection the page resumes the consultation and resends what the server has not
// applied yet (`welcome.last_req`).
//
// Choosing a chat item puts the customer in the waiting queue (a panel above the
// menu shows their place, from `queued`) and then in a chat with an agent (its own
// view, from `agent_joined`). Chat messages are not numbered requests: each has an
// id of ours and stays in its own outbox until `said`; after a reconnect the rest
// go again under the same ids, which the server recognises (PROTOCOL.md, "Chat
// with an agent").
//
// Choosing a bot item opens the answer bot (its own view, from `bot_opened`).
// Questions are handled like chat messages: each has an id of ours and stays in
// an outbox (kept in sessionStorage) until `bot_answer` names it, and goes again
// under the same id after a reconnect. `human` (accepting the bot's offer of a
// person, or asking outright) is a numbered request like `select`: it leads to the
// waiting panel, then the chat. Answers may be Markdown: they are shown as text
// with their line breaks, `code` and **bold** made into elements whose text is
// set with textContent, nothing else.
//
// Opened as `/?link=CODE` (the link to an agent's page, which came by SMS after a
// service), the page starts with `hello` carrying the link instead of a phone
// number (the link proves the number), then asks for that agent once with
// `reach_agent`, a numbered request like `human`. The code is kept in
// sessionStorage (and taken out of the address bar): a reload resumes with it, so
// the server still knows the agent, and whether `reach_agent` was sent (under
// which number) is kept too, so it is asked for exactly once. While the customer
// waits for that agent `queued` names them (`waiting_for`); `fell_back` says they
// stayed busy and anyone may take the customer now.
//
// Server text (menu titles, content) is only ever put in the page with textContent.
// What the agent console does alike is in common.js, loaded before this.
'use strict';

(function () {
  const common = window.frontdeskCommon;
  const { RETRY_FIRST_MS, PING_MS, $, el, showError, hideError } = common;

  const PROTOCOL = 1;
  const KEY_TOKEN = 'frontdesk.resume';
  const KEY_CONSULTATION = 'frontdesk.consultation';
  // The last request number used, so a reload never reuses a number the old page
  // may still have had in flight.
  const KEY_REQ = 'frontdesk.req';
  // Chat messages not yet acknowledged (`said`), so a reload cannot lose one.
  const KEY_SAYS = 'frontdesk.says';
  // Questions to the bot not yet answered (`bot_answer`), for the same reason.
  const KEY_ASKS = 'frontdesk.asks';
  // Set while the bot's view is (to be) shown, to the bot item's title: a reload
  // or a resume brings the customer back to it rather than to the menu.
  const KEY_BOT = 'frontdesk.bot';
  // Answers the customer said helped, so their buttons stay thanked after a reload.
  const KEY_HELPED = 'frontdesk.helped';
  // The agent's link this consultation came through (`?link=CODE`), sent again
  // with every resume.
  const KEY_LINK = 'frontdesk.link';
  // Where asking for the link's agent stands: '' (not yet), 'asked' (to be sent),
  // 'asked:N' (sent as request N), 'done' (answered, or applied).
  const KEY_REACH = 'frontdesk.reach';
  // What a link's code looks like (the server's are base64url); anything else is
  // refused here without a round trip.
  const LINK_CODE = /^[A-Za-z0-9_-]{1,64}$/;

  const TICK_MS = 2000;

  // ---------------------------------------------------------------- translations

  // Errors the customer can do nothing about except reload.
  const EN_PROTOCOL_ERROR = 'The page and the service did not understand each other. Please reload the page.';
  const ZH_PROTOCOL_ERROR = '页面与服务通信出错，请刷新页面。';

  const STRINGS = {
    en: {
      pageTitle: 'Service menu',
      brand: 'Customer service',
      startTitle: 'How can we help?',
      startIntro: 'Enter your phone number to see our service menu.',
      phoneLabel: 'Phone number',
      phoneHint: 'For example +1 201 555 0123',
      start: 'Show the menu',
      starting: 'Connecting…',
      phoneRequired: 'Please enter your phone number.',
      loading: 'Loading your service menu…',
      breadcrumb: 'You are here',
      back: 'Back',
      home: 'Home',
      end: 'End',
      kind_voice: 'Call',
      kind_chat: 'Chat',
      kind_bot: 'Assistant',
      notAvailable: (title) => (title ? `“${title}” is not available yet.` : 'This service is not available yet.'),
      reconnecting: 'Reconnecting…',
      doneTitle: 'Thank you',
      doneSummary: (n) => (n === 1
        ? 'Your consultation has ended. 1 service item was recorded.'
        : `Your consultation has ended. ${n} service items were recorded.`),
      endedNoCount: 'Your consultation has ended.',
      restart: 'Start again',
      supersededTitle: 'Continued elsewhere',
      superseded: 'This consultation continued in another window.',
      takeOver: 'Continue in this window',
      dismiss: 'Dismiss',
      connectFailed: 'Could not reach the service. Check your connection and try again.',
      queueTitle: 'Waiting for an agent',
      queuePosition: 'your place in line',
      queueWait: (min) => (min <= 1 ? 'Estimated wait: about 1 minute' : `Estimated wait: about ${min} minutes`),
      queueNoAgents: 'No agent is available right now. We will connect you as soon as one is.',
      queueHint: 'You can keep using the menu while you wait.',
      requeued: 'You are at the front of the line again.',
      linkLoading: 'Connecting you with your agent…',
      queueFor: (name) => `Waiting for ${name}`,
      queueForWait: (name) => `${name} will take you as soon as they are free.`,
      fellBack: (name) => `${name} is still busy — the next available agent will take you.`,
      cancelWait: 'Stop waiting',
      chatSub: 'is chatting with you',
      conversation: 'Conversation',
      messageLabel: 'Message',
      messagePlaceholder: 'Type a message',
      send: 'Send',
      you: 'You',
      sending: 'Sending…',
      agentOffline: 'The agent lost their connection. Please wait, they should be back shortly.',
      chatStarted: (name) => `${name} joined the chat.`,
      botTitle: 'Ask a question',
      botSub: 'Answers from our assistant',
      botMenu: 'Menu',
      botConversation: 'Questions and answers',
      botIntro: 'Ask in your own words, for example “When is my bill due?”',
      questionLabel: 'Your question',
      questionPlaceholder: 'Type your question',
      ask: 'Ask',
      noAnswer: 'Sorry, I have no answer to that.',
      helped: 'That helped',
      helpedThanks: 'Thanks for letting us know.',
      offerText: 'Would you like to talk to a person?',
      offerAccept: 'Talk to a person',
      offerDecline: 'Keep asking',
      preferPerson: 'Prefer a person?',
      talkToPerson: 'Talk to a person',
      botConnecting: 'Connecting you with a person…',
      botWaiting: (n) => `You are waiting for a person: number ${n} in line.`,
      botChatting: 'A person is chatting with you: choose “Talk to a person” to go back to the chat.',
      botErrors: {
        bot_not_open: 'The assistant is closed. Choose it in the menu to ask again.',
        no_offer: 'The offer of a person has lapsed. You can still choose “Talk to a person”.',
        unknown_question: 'That answer could not be found.',
        invalid_message: 'That question could not be read. Please write it another way.',
        already_waiting: 'You are already waiting for, or talking with, a person.',
        internal: 'Something went wrong on our side. Please try again.',
      },
      notices: {
        left_queue: 'You stopped waiting for an agent.',
        already_waiting: 'You are already waiting for an agent.',
        chat_ended: 'The chat has ended. Is there anything else we can help with?',
        agent_lost: 'Your agent lost their connection, so the chat has ended.',
      },
      errors: {
        invalid_phone: 'That phone number does not look right. Please check it and try again.',
        unknown_item: 'That option no longer exists.',
        item_not_on_screen: 'That option is not on this screen any more.',
        unknown_resume_token: 'Your previous consultation could not be found. Please start again.',
        consultation_ended: 'This consultation has ended. You can start a new one.',
        no_menu: 'The service menu is not available yet. Please try again later.',
        internal: 'Something went wrong on our side. Please try again.',
        unsupported_protocol: 'This page is out of date. Please reload it.',
        shutting_down: 'The service is restarting. Please try again in a moment.',
        idle_timeout: 'The connection was closed after a long pause.',
        rate_limited: 'Too many requests. Please wait a moment.',
        malformed_json: EN_PROTOCOL_ERROR,
        unknown_message_type: EN_PROTOCOL_ERROR,
        invalid_message: EN_PROTOCOL_ERROR,
        message_too_large: EN_PROTOCOL_ERROR,
        binary_not_supported: EN_PROTOCOL_ERROR,
        not_started: EN_PROTOCOL_ERROR,
        already_started: EN_PROTOCOL_ERROR,
        not_queued: 'You are no longer waiting for an agent.',
        not_in_chat: 'The chat has ended; your message was not sent.',
        bot_not_open: 'The assistant is closed. Choose it in the menu to ask again.',
        no_offer: 'The offer of a person has lapsed.',
        unknown_question: 'That answer could not be found.',
        unknown_link: 'This link is not valid any more. Please enter your phone number to continue.',
        no_link: 'This consultation did not start from your agent’s link, so we cannot ask for them. Choose a chat in the menu to reach the next available agent.',
      },
    },
    zh: {
      pageTitle: '服务菜单',
      brand: '客户服务',
      startTitle: '请问需要什么帮助？',
      startIntro: '请输入您的手机号码，查看我们的服务菜单。',
      phoneLabel: '手机号码',
      phoneHint: '例如 +86 138 0013 8000',
      start: '查看菜单',
      starting: '正在连接…',
      phoneRequired: '请输入您的手机号码。',
      loading: '正在加载服务菜单…',
      breadcrumb: '当前位置',
      back: '返回',
      home: '主菜单',
      end: '结束咨询',
      kind_voice: '电话',
      kind_chat: '在线客服',
      kind_bot: '智能助手',
      notAvailable: (title) => (title ? `“${title}”暂未开放。` : '该服务暂未开放。'),
      reconnecting: '正在重新连接…',
      doneTitle: '感谢您的咨询',
      doneSummary: (n) => `您的咨询已结束，共记录了 ${n} 项服务。`,
      endedNoCount: '您的咨询已结束。',
      restart: '重新开始',
      supersededTitle: '已在其他窗口继续',
      superseded: '此次咨询已在另一个窗口中继续。',
      takeOver: '在此窗口继续',
      dismiss: '关闭',
      connectFailed: '无法连接到服务，请检查网络后重试。',
      queueTitle: '正在为您转接人工客服',
      queuePosition: '您的排队位置',
      queueWait: (min) => `预计等待约 ${Math.max(1, min)} 分钟`,
      queueNoAgents: '目前没有空闲的客服，有客服空闲时将立即为您接通。',
      queueHint: '等待期间您可以继续使用菜单。',
      requeued: '您已重新排在队列首位。',
      linkLoading: '正在为您联系您的客服…',
      queueFor: (name) => `正在等待 ${name}`,
      queueForWait: (name) => `${name} 一有空就会为您服务。`,
      fellBack: (name) => `${name} 仍在忙碌，下一位空闲的客服将为您服务。`,
      cancelWait: '取消等待',
      chatSub: '正在为您服务',
      conversation: '对话',
      messageLabel: '消息',
      messagePlaceholder: '请输入消息',
      send: '发送',
      you: '您',
      sending: '正在发送…',
      agentOffline: '客服的连接已断开，请稍候，客服很快会回来。',
      chatStarted: (name) => `${name} 已加入对话。`,
      botTitle: '提问',
      botSub: '智能助手为您解答',
      botMenu: '菜单',
      botConversation: '问答',
      botIntro: '请直接输入您的问题，例如“每月几号交话费？”',
      questionLabel: '您的问题',
      questionPlaceholder: '请输入您的问题',
      ask: '提问',
      noAnswer: '抱歉，我暂时无法回答这个问题。',
      helped: '有帮助',
      helpedThanks: '感谢您的反馈。',
      offerText: '需要为您转接人工客服吗？',
      offerAccept: '转人工客服',
      offerDecline: '继续提问',
      preferPerson: '想和人工客服沟通？',
      talkToPerson: '转人工客服',
      botConnecting: '正在为您转接人工客服…',
      botWaiting: (n) => `正在等待人工客服：您排在第 ${n} 位。`,
      botChatting: '人工客服正在为您服务：选择“转人工客服”回到对话。',
      botErrors: {
        bot_not_open: '智能助手已关闭，请在菜单中重新选择后提问。',
        no_offer: '人工转接的提议已失效，您仍可选择“转人工客服”。',
        unknown_question: '找不到该回答。',
        invalid_message: '无法识别该问题，请换一种说法。',
        already_waiting: '您已在等待人工客服，或正在与人工客服沟通。',
        internal: '服务出现问题，请重试。',
      },
      notices: {
        left_queue: '您已取消等待人工客服。',
        already_waiting: '您已在等待人工客服。',
        chat_ended: '对话已结束。还有什么可以帮您的吗？',
        agent_lost: '您的客服连接已断开，对话已结束。',
      },
      errors: {
        invalid_phone: '手机号码似乎不正确，请检查后重试。',
        unknown_item: '该选项已不存在。',
        item_not_on_screen: '该选项已不在当前页面上。',
        unknown_resume_token: '找不到您之前的咨询，请重新开始。',
        consultation_ended: '此次咨询已结束，您可以重新开始。',
        no_menu: '服务菜单尚未就绪，请稍后再试。',
        internal: '服务出现问题，请重试。',
        unsupported_protocol: '此页面版本已过期，请刷新页面。',
        shutting_down: '服务正在重启，请稍后再试。',
        idle_timeout: '连接因长时间无操作而断开。',
        rate_limited: '请求过于频繁，请稍候。',
        malformed_json: ZH_PROTOCOL_ERROR,
        unknown_message_type: ZH_PROTOCOL_ERROR,
        invalid_message: ZH_PROTOCOL_ERROR,
        message_too_large: ZH_PROTOCOL_ERROR,
        binary_not_supported: ZH_PROTOCOL_ERROR,
        not_started: ZH_PROTOCOL_ERROR,
        already_started: ZH_PROTOCOL_ERROR,
        not_queued: '您已不在等待队列中。',
        not_in_chat: '对话已结束，您的消息未发送。',
        bot_not_open: '智能助手已关闭，请在菜单中重新选择后提问。',
        no_offer: '人工转接的提议已失效。',
        unknown_question: '找不到该回答。',
        unknown_link: '该链接已失效，请输入您的手机号码继续。',
        no_link: '此次咨询不是通过客服的链接发起的，无法指定该客服。请在菜单中选择在线客服，由下一位空闲的客服为您服务。',
      },
    },
  };

  const { lang: LANG, t, errorText, translatePage, time: TIME } = common.translations(STRINGS);

  // ---------------------------------------------------------------- storage

  // sessionStorage throws in some privacy modes; the page then simply cannot resume
  // after a reload, which is no reason to fail.
  const store = {
    get(key) { try { return sessionStorage.getItem(key); } catch (_) { return null; } },
    set(key, value) { try { sessionStorage.setItem(key, String(value)); } catch (_) { /* see above */ } },
    clear() {
      for (const key of [KEY_TOKEN, KEY_CONSULTATION, KEY_REQ, KEY_SAYS, KEY_ASKS, KEY_BOT, KEY_HELPED,
        KEY_LINK, KEY_REACH]) {
        this.remove(key);
      }
    },
    remove(key) { try { sessionStorage.removeItem(key); } catch (_) { /* see above */ } },
  };

  // ---------------------------------------------------------------- state

  const state = {
    view: 'start',        // start | loading | menu | done | superseded
    token: null,          // resume token: set while a consultation is open
    consultation: null,
    screen: null,         // the screen on display
    screenKey: '',        // its JSON, to skip rebuilding an unchanged list
    lastShown: 0,         // the request whose answer is on display
    shownItem: null,      // the content item on display
    lastAck: 0,           // highest request known to be durably recorded
    counter: 0,           // last request number used
    ending: false,        // `end` was asked for: no more requests
    starting: false,      // a hello with a phone number is on its way
    // Waiting for an agent: { position, waiting, estimatedWaitMs, agentsAvailable,
    // requeued, stale }, or null.
    queue: null,
    // Chatting with an agent: { service, agent: {id, name}, lines: Map seq → line,
    // online, stale }, or null.
    chat: null,
    // The answer bot, once opened in this consultation: { item, title, turns: Map
    // seq → {id, seq, question, answer: {entry, text} or null}, offer (a person is
    // on offer), stale (not yet confirmed by this connection), handing (`human`
    // asked, no `queued` yet), helped: Set of question ids, helping: Set of ids
    // whose `helped` awaits `noted`, error: inline error text }, or null.
    bot: null,
    // The customer chose the bot and has not left it: `bot_opened` shows its view.
    wantBot: false,
    // The agent's link this consultation came through, or null; and where asking
    // for that agent stands (KEY_REACH).
    link: null,
    reach: '',
    // The agent waited for did not come free (`fell_back`): their name, shown in
    // the waiting panel until the wait is over.
    fellBack: null,
  };

  // Chat messages the server has not acknowledged yet, oldest first:
  // { id, text, sent: on the current socket }. Unlike requests they are not
  // numbered and not answered in order, so they are not in `outbox`: each is kept
  // until `said` (or an `error` naming its id), and after a reconnect the ones left
  // are sent again under the same id, which the server recognises.
  const says = [];
  const nextSayId = common.messageIds('c');
  // Questions to the bot not answered yet, oldest first: { id, text, sent }. Kept
  // like `says`: until `bot_answer` (or an error naming the id), sent again under
  // the same id after a reconnect, which the server answers once.
  const asks = [];
  const nextAskId = common.messageIds('q');
  // After a resume the server tells again whether we wait or chat (`queued`,
  // `agent_joined`); what it does not confirm within this long is over.
  const CONFIRM_MS = 3000;
  let confirmTimer = null;

  // Requests not yet acknowledged, in request order:
  // { req, msg, sent: on the current socket, answered: its screen/error arrived }.
  const outbox = [];
  // After `rate_limited` nothing is sent before this time.
  let holdUntil = 0;
  let holdTimer = null;

  // ---------------------------------------------------------------- connection

  // One WebSocket at a time. `open(makeHello)` (re)starts it; after an unexpected
  // close the app calls `retry()`, which reconnects with exponential back-off and
  // sends a fresh hello (built at that moment, so it carries the latest token).
  const conn = {
    ...common.socketMethods,
    ws: null,
    welcomed: false,
    makeHello: null,
    retryDelay: RETRY_FIRST_MS,
    retryTimer: null,
    tickTimer: null,
    openedAt: 0,
    pingEvery: PING_MS,
    lastPingAt: 0,
    awaitingSince: 0,     // when we started waiting for any answer (0: not waiting)
    nonce: 0,

    open(makeHello) {
      this.stop();
      this.makeHello = makeHello;
      this.retryDelay = RETRY_FIRST_MS;
      this.connect();
    },

    connect() {
      this.cancelRetry();
      const ws = this.openSocket('/ws', handle);
      if (!ws) {
        setTimeout(() => onDisconnected(), 0);
        return;
      }
      ws.onopen = () => this.send(this.makeHello());
      clearInterval(this.tickTimer);
      this.tickTimer = setInterval(() => this.tick(), TICK_MS);
    },

    send(msg) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
      try { this.ws.send(JSON.stringify(msg)); return true; } catch (_) { return false; }
    },

    welcome(limits) {
      this.welcomed = true;
      this.retryDelay = RETRY_FIRST_MS;
      const idle = limits && Number(limits.idle_timeout_secs);
      // Ping well inside the server's idle timeout.
      this.pingEvery = idle > 0 ? Math.min(PING_MS, idle * 500) : PING_MS;
      this.lastPingAt = Date.now();
    },

    ping() {
      if (!this.ready()) return;
      this.lastPingAt = Date.now();
      if (!this.awaitingSince) this.awaitingSince = this.lastPingAt;
      this.nonce += 1;
      this.send({ type: 'ping', nonce: this.nonce });
    },

    // Heartbeat and dead-socket detection.
    tick() {
      const now = Date.now();
      if (this.overdue(now)) this.drop();
      else if (this.welcomed && now - this.lastPingAt >= this.pingEvery) this.ping();
    },

    closed(ws) {
      if (ws !== this.ws) return; // a socket we already replaced or stopped
      this.ws = null;
      this.welcomed = false;
      clearInterval(this.tickTimer);
      this.tickTimer = null;
      for (const e of outbox) e.sent = false;
      for (const m of says) m.sent = false;
      for (const a of asks) a.sent = false;
      onDisconnected();
    },

    retry() {
      if (this.retryTimer || this.ws || !this.makeHello) return;
      this.retryAfter(this.retryDelay);
    },

    // The network is back or the page is visible again: don't sit out the back-off,
    // and check at once that a socket which looks open still is.
    nudge() {
      if (!this.retryNow() && this.ready()) this.ping();
    },

    // Close on purpose: no reconnect, no callbacks.
    stop() {
      this.cancelRetry();
      this.makeHello = null;
      clearInterval(this.tickTimer);
      this.tickTimer = null;
      this.release();
    },

    connected() {
      return this.ready();
    },
  };

  function startHello(phone) {
    return () => ({ type: 'hello', protocol: PROTOCOL, phone });
  }

  function linkHello(code) {
    return () => ({ type: 'hello', protocol: PROTOCOL, link: code });
  }

  // With the link, if there is one: it is what tells the server (again, after a
  // restart too) which agent this customer came for.
  function resumeHello() {
    const hello = { type: 'hello', protocol: PROTOCOL, resume: state.token };
    if (state.link) hello.link = state.link;
    return hello;
  }

  // ---------------------------------------------------------------- outbox

  function nextReq() {
    state.counter += 1;
    store.set(KEY_REQ, state.counter);
    return state.counter;
  }

  // Requests go out one at a time: the next is sent only once the one before it is
  // answered. A request gets its number when it is first sent, and keeps it for
  // resends after a reconnect (the server may have applied it). A request the
  // server refused with `rate_limited` counts as answered there, so it is sent again
  // under a new number; sending one at a time is what keeps that new number in
  // order with the requests queued behind it.
  function flush() {
    if (!conn.ready()) return;
    const wait = holdUntil - Date.now();
    if (wait > 0) {
      if (!holdTimer) holdTimer = setTimeout(() => { holdTimer = null; flush(); }, wait);
      return;
    }
    for (const e of outbox) {
      if (!e.sent) {
        if (e.req === null) {
          e.req = nextReq();
          e.msg.req = e.req;
          if (e.msg.type === 'reach_agent') setReach(`asked:${e.req}`);
        }
        e.sent = conn.send(e.msg);
        if (!e.sent) return;
      }
      if (!e.answered) return;
    }
  }

  function request(type, extra) {
    outbox.push({ req: null, msg: Object.assign({ type }, extra), sent: false, answered: false });
    flush();
    updateControls();
  }

  function findEntry(req) {
    return outbox.find((e) => e.req !== null && e.req === req);
  }

  // Forgets every request numbered `req` or lower (queued, unnumbered ones stay).
  function removeThrough(req) {
    for (let i = outbox.length - 1; i >= 0; i -= 1) {
      if (outbox[i].req !== null && outbox[i].req <= req) outbox.splice(i, 1);
    }
  }

  // An item chosen on a screen only makes sense on that screen, so while an earlier
  // request is unanswered a second choice is held back (a double tap on a submenu
  // would otherwise select from a screen already left).
  function busy() {
    return outbox.some((e) => !e.answered);
  }

  // ---------------------------------------------------------------- messages

  function handle(msg) {
    switch (msg.type) {
      case 'welcome': onWelcome(msg); break;
      case 'screen': onScreen(msg); break;
      case 'ack': onAck(msg.req); break;
      case 'ended': onEnded(msg); break;
      case 'queued': onQueued(msg); break;
      case 'fell_back': onFellBack(msg); break;
      case 'agent_joined': onAgentJoined(msg); break;
      case 'chat': onChat(msg); break;
      case 'said': onSaid(msg); break;
      case 'agent_status': onAgentStatus(msg); break;
      case 'service_ended': onServiceEnded(msg); break;
      case 'bot_opened': onBotOpened(msg); break;
      case 'bot_answer': onBotAnswer(msg); break;
      case 'offer_declined': onOfferDeclined(); break;
      case 'noted': onNoted(msg); break;
      case 'error': onError(msg); break;
      default: break; // pong: hearing it was the point
    }
  }

  function onWelcome(msg) {
    conn.welcome(msg.limits);
    // From now on every reconnect resumes this consultation instead of starting one.
    conn.makeHello = resumeHello;
    const first = !state.token;
    state.token = msg.resume_token;
    state.consultation = msg.consultation;
    setStarting(false);
    store.set(KEY_TOKEN, msg.resume_token);
    store.set(KEY_CONSULTATION, msg.consultation);

    // Everything up to last_req is applied and recorded: keep only the rest, to
    // resend in order under their numbers (this connection has applied none of
    // them), and never reuse a number the server has seen.
    const lastReq = Number(msg.last_req) || 0;
    settleReach(lastReq);
    removeThrough(lastReq);
    for (const e of outbox) {
      e.sent = false;
      e.answered = false;
    }
    state.lastAck = Math.max(state.lastAck, lastReq);
    state.counter = Math.max(state.counter, lastReq);
    store.set(KEY_REQ, state.counter);
    state.lastShown = lastReq;

    // Waiting or chatting before the connection dropped: the server says again
    // which (`queued` or `agent_joined` follow the welcome). Until it does, what is
    // on display stays, so a resume does not flash the menu in the middle of a chat.
    // The bot, if it was open, is confirmed by `bot_opened` right after the welcome.
    if (first) {
      state.queue = null;
      state.chat = null;
      state.bot = null;
    }
    if (state.queue) state.queue.stale = true;
    if (state.chat) state.chat.stale = true;
    if (state.bot) state.bot.stale = true;
    clearTimeout(confirmTimer);
    confirmTimer = (state.queue || state.chat || state.bot || says.length || asks.length)
      ? setTimeout(dropUnconfirmed, CONFIRM_MS) : null;

    const inChat = state.view === 'chat' && state.chat;
    const inBot = state.view === 'bot' && state.bot;
    const away = inChat || inBot; // a view of its own stays on display
    const moved = !state.screen || state.screen.menu !== msg.screen.menu || (state.view !== 'menu' && !away);
    if (first) hideError();
    setStatus('');
    if (moved) showAnswer(null, null);
    if (!away) showView('menu');
    renderScreen(msg.screen, moved && !away);
    renderQueue();
    maybeReach();
    flush();
    updateControls();
  }

  // What the server did not confirm after a resume is over (it ended while we
  // were away): back to the menu.
  function dropUnconfirmed() {
    confirmTimer = null;
    if (state.queue && state.queue.stale) {
      state.queue = null;
      renderQueue();
    }
    if (state.chat && state.chat.stale) {
      state.chat = null;
      if (state.view === 'chat') showView('menu');
    }
    // Messages kept over a reload for a chat that did not come back.
    if (!state.chat && says.length) dropSays();
    if (state.bot && state.bot.stale) {
      state.bot = null;
      if (state.view === 'bot') showView('menu');
    }
    if (!state.bot && asks.length) dropAsks();
  }

  function onScreen(msg) {
    const entry = findEntry(msg.req);
    if (entry) entry.answered = true;
    flush(); // the next queued request may go now
    // Answers come in request order; one older than the screen on display is stale.
    if (msg.req <= state.lastShown || state.view !== 'menu') {
      updateControls();
      return;
    }
    state.lastShown = msg.req;
    const moved = !state.screen || state.screen.menu !== msg.screen.menu;
    if (msg.content || msg.notice) {
      showAnswer(msg.content, msg.notice, msg.screen);
    } else if (moved || !msg.duplicate) {
      // A new answer without content replaces what was shown; a duplicate changed nothing.
      showAnswer(null, null);
    }
    if (moved) hideError();
    if (msg.notice && msg.notice.code === 'left_queue') {
      state.queue = null;
      renderQueue();
    }
    renderScreen(msg.screen, moved);
    updateControls();
    if (msg.content || msg.notice) revealAnswer();
  }

  // ---------------------------------------------------------------- queue and chat

  function onQueued(msg) {
    // A new wait: whatever fell back in an earlier one is over.
    if (!state.queue) state.fellBack = null;
    // The answer to `human`: the customer sees their place in the waiting panel.
    const handing = !!(state.bot && state.bot.handing);
    if (state.bot) state.bot.handing = false;
    const waitingFor = msg.waiting_for && typeof msg.waiting_for.name === 'string'
      ? { id: msg.waiting_for.id, name: msg.waiting_for.name } : null;
    state.queue = {
      position: Number(msg.position) || 0,
      waiting: Number(msg.waiting) || 0,
      estimatedWaitMs: Number(msg.estimated_wait_ms) || 0,
      agentsAvailable: Number(msg.agents_available) || 0,
      requeued: !!msg.requeued || !!(state.queue && state.queue.requeued),
      waitingFor,
      stale: false,
    };
    // Waiting for that agent again (after a resume): what fell back is forgotten.
    if (waitingFor) state.fellBack = null;
    // Waiting again (after `agent_lost`) means the chat is over.
    if (state.chat) {
      state.chat = null;
      dropSays();
    }
    if (state.view === 'chat') showView('menu');
    if (handing && state.view === 'bot') leaveBot();
    renderQueue();
    renderBot(false);
  }

  // The agent asked for stayed busy: anyone may take the customer now (a `queued`
  // without `waiting_for` follows).
  function onFellBack(msg) {
    const name = msg.agent && typeof msg.agent.name === 'string' ? msg.agent.name : '';
    state.fellBack = name || (state.queue && state.queue.waitingFor && state.queue.waitingFor.name) || '';
    if (state.queue) state.queue.waitingFor = null;
    renderQueue();
  }

  // ---------------------------------------------------------------- the agent's link

  // `?link=CODE` in the address: the code, taken out of the address bar (it stands
  // for the customer's phone number; a reload resumes with the stored copy).
  // Undefined without one; null when it cannot be a code.
  function linkFromAddress() {
    let params;
    try { params = new URLSearchParams(location.search); } catch (_) { return undefined; }
    if (!params.has('link')) return undefined;
    const code = (params.get('link') || '').trim();
    params.delete('link');
    try {
      const rest = params.toString();
      history.replaceState(history.state, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
    } catch (_) { /* the address keeps the code: no harm */ }
    return LINK_CODE.test(code) ? code : null;
  }

  function setLink(code) {
    state.link = code;
    if (code) store.set(KEY_LINK, code);
    else store.remove(KEY_LINK);
  }

  function setReach(value) {
    state.reach = value;
    if (value) store.set(KEY_REACH, value);
    else store.remove(KEY_REACH);
  }

  // The number `reach_agent` was sent under, or 0.
  function reachReq() {
    const m = /^asked:(\d+)$/.exec(state.reach);
    return m ? Number(m[1]) : 0;
  }

  // Requests through `req` are applied and recorded: if `reach_agent` was one of
  // them, it is done (its `queued` or `agent_joined` came or comes on its own).
  function settleReach(req) {
    const n = reachReq();
    if (n && n <= req) setReach('done');
  }

  // Once welcomed through a link: ask for its agent, unless that was done (or is
  // in the outbox already, to be resent under its number).
  function maybeReach() {
    if (!state.link || state.reach === 'done' || state.ending) return;
    if (outbox.some((e) => e.msg.type === 'reach_agent')) return;
    setReach('asked');
    request('reach_agent');
  }

  // A start through a link: no phone number asked for.
  function beginLink(code) {
    resetConsultation();
    setLink(code);
    setReach('');
    $('loading-text').textContent = t('linkLoading');
    showView('loading');
    conn.open(linkHello(code));
  }

  // The link is not (or no longer) valid: forget it; the consultation, if there
  // is one, resumes without it, else the phone number is asked for.
  function dropLink(code, message) {
    conn.stop();
    setLink(null);
    setReach('');
    setStatus('');
    if (state.token) {
      resume();
    } else {
      showStart();
      $('phone').focus();
    }
    showError(errorText(code, message));
  }

  function onAgentJoined(msg) {
    const same = state.chat && state.chat.service === msg.service;
    const chat = same ? state.chat : { service: msg.service, lines: new Map() };
    chat.agent = msg.agent || { name: '' };
    chat.online = same ? chat.online : true;
    chat.stale = false;
    state.chat = chat;
    state.queue = null;
    state.fellBack = null;
    if (state.bot) state.bot.handing = false;
    setWantBot(false);
    renderQueue();
    // Messages written in an earlier chat that ended meanwhile are not for this agent.
    for (let i = says.length - 1; i >= 0; i -= 1) {
      if (says[i].service !== chat.service) says.splice(i, 1);
    }
    saveSays();
    // On a resume this is every message so far, maybe with ones of ours whose
    // `said` was lost with the connection: they are stored, so they leave the outbox.
    for (const line of Array.isArray(msg.messages) ? msg.messages : []) addLine(line);
    const opened = state.view !== 'chat';
    hideError();
    showView('chat');
    renderChat(true);
    if (opened) {
      $('chat-title').focus();
    }
    flushSays();
  }

  function onChat(msg) {
    if (!state.chat || state.chat.service !== msg.service || !msg.line) return;
    addLine(msg.line);
    renderChat(false);
  }

  function onSaid(msg) {
    const i = says.findIndex((m) => m.id === msg.id);
    const mine = i >= 0 ? says.splice(i, 1)[0] : null;
    saveSays();
    if (state.chat && state.chat.service === msg.service && mine) {
      addLine({ seq: msg.seq, from: 'customer', text: mine.text, at_ms: msg.at_ms, id: msg.id });
    }
    renderChat(false);
  }

  function onAgentStatus(msg) {
    if (!state.chat || state.chat.service !== msg.service) return;
    state.chat.online = !!msg.online;
    renderChat(false);
  }

  function onServiceEnded(msg) {
    if (state.chat && state.chat.service !== msg.service) return;
    state.chat = null;
    dropSays();
    const lost = msg.reason === 'agent_lost';
    if (lost && state.queue) state.queue.requeued = true;
    showView('menu');
    showAnswer(null, { code: lost ? 'agent_lost' : 'chat_ended' });
    if (msg.screen) renderScreen(msg.screen, true);
    renderQueue();
    updateControls();
    revealAnswer();
  }

  // Lines are kept by seq: whatever order or how often they arrive, each is shown once.
  function addLine(line) {
    if (!state.chat || typeof line.seq !== 'number') return;
    state.chat.lines.set(line.seq, line);
    if (line.from === 'customer') {
      const i = says.findIndex((m) => m.id === line.id);
      if (i >= 0) {
        says.splice(i, 1);
        saveSays();
      }
    }
  }

  function say(text) {
    if (!state.chat) return;
    says.push({ id: nextSayId(), service: state.chat.service, text, sent: false });
    saveSays();
    flushSays();
    renderChat(true);
  }

  // Says go out only in a chat this connection has confirmed (`agent_joined`):
  // after a resume that is what tells us the chat is still open.
  function flushSays() {
    if (!conn.ready() || !state.chat || state.chat.stale) return;
    const wait = holdUntil - Date.now();
    if (wait > 0) {
      setTimeout(flushSays, wait);
      return;
    }
    for (const m of says) {
      if (m.sent) continue;
      m.sent = conn.send({ type: 'say', id: m.id, text: m.text });
      if (!m.sent) return;
    }
  }

  function saveSays() {
    store.set(KEY_SAYS, JSON.stringify(says.map((m) => ({ id: m.id, service: m.service, text: m.text }))));
  }

  function loadSays() {
    let saved = [];
    try { saved = JSON.parse(store.get(KEY_SAYS) || '[]'); } catch (_) { saved = []; }
    says.length = 0;
    for (const m of Array.isArray(saved) ? saved : []) {
      if (m && typeof m.id === 'string' && typeof m.text === 'string') {
        says.push({ id: m.id, service: m.service, text: m.text, sent: false });
      }
    }
  }

  // The chat is over: what was not stored will not be.
  function dropSays() {
    says.length = 0;
    saveSays();
  }

  // An error naming a chat message answers that message.
  function onSayError(msg) {
    const i = says.findIndex((m) => m.id === msg.id);
    if (i < 0) return;
    if (msg.error === 'rate_limited') {
      // Not stored: the same message goes again, under the same id, after the wait.
      holdUntil = Math.max(holdUntil, Date.now() + (Number(msg.retry_after_ms) || 1000));
      says[i].sent = false;
      flushSays();
      return;
    }
    says.splice(i, 1);
    saveSays();
    renderChat(false);
    showError(errorText(msg.error, msg.message));
  }

  // ---------------------------------------------------------------- the answer bot

  // Errors after which the connection closes or the consultation is over: handled
  // as everywhere, not as a refusal shown in the bot's view.
  const CLOSING_CODES = ['unknown_resume_token', 'consultation_ended', 'superseded', 'shutting_down',
    'idle_timeout', 'unsupported_protocol'];

  function itemOnScreen(id) {
    const items = (state.screen && state.screen.items) || [];
    return items.find((i) => i.id === id) || null;
  }

  function kindOf(id) {
    const item = itemOnScreen(id);
    return item ? String(item.kind) : '';
  }

  function itemTitle(id) {
    const item = itemOnScreen(id);
    return item ? String(item.title) : '';
  }

  function setWantBot(on, title) {
    state.wantBot = on;
    if (on) store.set(KEY_BOT, title || '');
    else store.remove(KEY_BOT);
  }

  // The bot's text for an error, else the page's.
  function botErrorText(code, message) {
    return STRINGS[LANG].botErrors[code] || errorText(code, message);
  }

  function onBotOpened(msg) {
    const item = typeof msg.item === 'string' ? msg.item : '';
    const bot = state.bot || {
      turns: new Map(), helped: loadHelped(), helping: new Set(), offer: false, handing: false, error: '',
    };
    bot.item = item;
    bot.title = itemTitle(item) || bot.title || store.get(KEY_BOT) || '';
    // The whole conversation so far: it replaces what we had.
    bot.turns = new Map();
    for (const turn of Array.isArray(msg.turns) ? msg.turns : []) {
      if (turn && typeof turn.seq === 'number') bot.turns.set(turn.seq, turn);
    }
    // Questions whose answer was lost with the connection are stored: they leave
    // the outbox (the server would answer a resend the same, but no need).
    const stored = new Set(Array.from(bot.turns.values(), (x) => x.id));
    for (let i = asks.length - 1; i >= 0; i -= 1) {
      if (stored.has(asks[i].id)) asks.splice(i, 1);
    }
    saveAsks();
    bot.offer = !!msg.offer;
    bot.stale = false;
    state.bot = bot;
    if (state.wantBot && state.view !== 'chat') {
      const opened = state.view !== 'bot';
      hideError();
      showView('bot');
      renderBot(true);
      updateControls();
      if (opened) $('bot-title').focus();
    } else {
      renderBot(false);
    }
    flushAsks();
    resendHelped();
  }

  function onBotAnswer(msg) {
    const i = asks.findIndex((a) => a.id === msg.id);
    const mine = i >= 0 ? asks.splice(i, 1)[0] : null;
    if (mine) saveAsks();
    const bot = state.bot;
    if (!bot || typeof msg.seq !== 'number') return;
    const known = bot.turns.get(msg.seq);
    const question = mine ? mine.text : (known ? known.question : null);
    if (question === null) return;
    const answer = msg.answer && typeof msg.answer.text === 'string' ? msg.answer : null;
    bot.turns.set(msg.seq, { id: msg.id, seq: msg.seq, question, answer });
    // A resend's answer tells the offer as it was then; `bot_opened` told it as it is.
    if (!msg.duplicate) bot.offer = !!msg.offer;
    bot.error = '';
    renderBot(true);
  }

  function onOfferDeclined() {
    if (!state.bot) return;
    state.bot.offer = false;
    renderBot(false);
  }

  function onNoted(msg) {
    if (!state.bot) return;
    state.bot.helping.delete(msg.id);
    state.bot.helped.add(msg.id);
    saveHelped();
    renderBot(false);
  }

  function ask(text) {
    if (!state.bot) return;
    asks.push({ id: nextAskId(), text, sent: false });
    saveAsks();
    state.bot.error = '';
    flushAsks();
    renderBot(true);
  }

  // Questions go out only to a bot this connection has confirmed (`bot_opened`).
  function flushAsks() {
    if (!conn.ready() || !state.bot || state.bot.stale) return;
    const wait = holdUntil - Date.now();
    if (wait > 0) {
      setTimeout(flushAsks, wait);
      return;
    }
    for (const a of asks) {
      if (a.sent) continue;
      a.sent = conn.send({ type: 'ask', id: a.id, text: a.text });
      if (!a.sent) return;
    }
  }

  function saveAsks() {
    store.set(KEY_ASKS, JSON.stringify(asks.map((a) => ({ id: a.id, text: a.text }))));
  }

  function loadAsks() {
    let saved = [];
    try { saved = JSON.parse(store.get(KEY_ASKS) || '[]'); } catch (_) { saved = []; }
    asks.length = 0;
    for (const a of Array.isArray(saved) ? saved : []) {
      if (a && typeof a.id === 'string' && typeof a.text === 'string') asks.push({ id: a.id, text: a.text, sent: false });
    }
  }

  function dropAsks() {
    asks.length = 0;
    saveAsks();
  }

  // An error naming a question answers it.
  function onAskError(msg) {
    const i = asks.findIndex((a) => a.id === msg.id);
    if (msg.error === 'rate_limited') {
      // Not stored: the same question goes again, under the same id, after the wait.
      holdUntil = Math.max(holdUntil, Date.now() + (Number(msg.retry_after_ms) || 1000));
      asks[i].sent = false;
      flushAsks();
      return;
    }
    const gone = asks.splice(i, 1)[0];
    saveAsks();
    // Not asked: the question goes back in the field (unless something new is there).
    const input = $('bot-input');
    if (!input.value.trim()) {
      input.value = gone.text;
      fitInput(input);
    }
    if (state.bot) {
      state.bot.error = botErrorText(msg.error, msg.message);
      renderBot(false);
    } else {
      showError(errorText(msg.error, msg.message));
    }
  }

  function helped(id) {
    const bot = state.bot;
    if (!bot || typeof id !== 'string' || bot.helped.has(id) || bot.helping.has(id) || state.ending) return;
    bot.helping.add(id);
    if (!bot.stale) conn.send({ type: 'helped', id });
    renderBot(false);
  }

  // Feedback not yet `noted` goes again (it is recorded once however often it comes).
  function resendHelped() {
    if (!conn.ready() || !state.bot || state.bot.stale) return;
    for (const id of state.bot.helping) conn.send({ type: 'helped', id });
  }

  function onHelpedError(msg) {
    const bot = state.bot;
    if (msg.error === 'rate_limited') {
      holdUntil = Math.max(holdUntil, Date.now() + (Number(msg.retry_after_ms) || 1000));
      setTimeout(resendHelped, holdUntil - Date.now());
      return;
    }
    bot.helping.delete(msg.id);
    bot.error = botErrorText(msg.error, msg.message);
    renderBot(false);
  }

  function saveHelped() {
    if (state.bot) store.set(KEY_HELPED, JSON.stringify(Array.from(state.bot.helped)));
  }

  function loadHelped() {
    let saved = [];
    try { saved = JSON.parse(store.get(KEY_HELPED) || '[]'); } catch (_) { saved = []; }
    return new Set((Array.isArray(saved) ? saved : []).filter((id) => typeof id === 'string'));
  }

  // "Talk to a person": accept the offer, or ask outright. Already waiting or
  // chatting, it shows that instead of asking again.
  function askHuman() {
    const bot = state.bot;
    if (!bot || state.ending) return;
    if (state.chat) {
      setWantBot(false);
      showView('chat');
      renderChat(true);
      return;
    }
    if (state.queue) {
      leaveBot();
      return;
    }
    if (bot.handing) return;
    bot.handing = true;
    bot.error = '';
    request('human');
    renderBot(false);
  }

  // "Keep asking": not kept for later like a question; it needs the connection.
  function decline() {
    const bot = state.bot;
    if (!bot || !bot.offer || state.ending || bot.stale) return;
    if (!conn.ready() || !conn.send({ type: 'decline' })) return;
    // The bar goes at once; `offer_declined` (or `no_offer`) confirms it.
    bot.offer = false;
    bot.error = '';
    renderBot(false);
    $('bot-input').focus();
  }

  // Back to the menu (with the waiting panel when waiting); the bot stays open
  // and choosing its item again shows the conversation.
  function leaveBot() {
    setWantBot(false);
    showView('menu');
    renderQueue();
    updateControls();
    window.scrollTo(0, 0);
    $('menu-title').focus();
  }

  function onAck(req) {
    if (typeof req !== 'number') return;
    settleReach(req);
    removeThrough(req);
    state.lastAck = Math.max(state.lastAck, req);
    updateControls();
  }

  function onEnded(msg) {
    outbox.length = 0;
    if (typeof msg.req === 'number') state.lastAck = Math.max(state.lastAck, msg.req);
    if (msg.consultation) state.consultation = msg.consultation;
    closeConsultation();
    showDone(t('doneSummary', Number(msg.items_recorded) || 0));
  }

  function showDone(summary) {
    hideError(); // whatever went wrong on the way, it is over now
    $('done-summary').textContent = summary;
    showView('done');
    $('done-title').focus();
  }

  function onError(msg) {
    const code = msg.error;
    const req = typeof msg.req === 'number' ? msg.req : null;

    if (typeof msg.id === 'string') {
      // The id names a question (`ask`), an answer's feedback (`helped`) or a
      // chat message.
      if (asks.some((a) => a.id === msg.id)) onAskError(msg);
      else if (state.bot && state.bot.helping.has(msg.id)) onHelpedError(msg);
      else onSayError(msg);
      return;
    }

    if (code === 'no_offer') {
      // `decline` with nothing on offer (it lapsed meanwhile): nothing to decline.
      if (state.bot) {
        state.bot.offer = false;
        state.bot.error = botErrorText(code, msg.message);
        renderBot(false);
      }
      return;
    }

    if (code === 'rate_limited') {
      // Not applied, but answered: the server now treats this number as used, so
      // the same action goes out again under a new number once the wait is over.
      holdUntil = Math.max(holdUntil, Date.now() + (Number(msg.retry_after_ms) || 1000));
      const entry = req === null ? null : findEntry(req);
      if (entry) {
        entry.req = null;
        delete entry.msg.req;
        entry.sent = false;
        entry.answered = false;
        // Not applied: after a reload it must be asked for again.
        if (entry.msg.type === 'reach_agent') setReach('asked');
      }
      if (req === null && conn.welcomed) {
        // A refused frame the server could not read far enough to name: it may
        // have been a chat message. Resending those is safe (a stored one is
        // answered `said` with `duplicate`), so every unacknowledged one goes again.
        for (const m of says) m.sent = false;
        flushSays();
        // The same for questions (a stored one is answered with `duplicate`) and
        // for feedback (recorded once however often it is sent).
        for (const a of asks) a.sent = false;
        setTimeout(() => {
          flushAsks();
          resendHelped();
        }, holdUntil - Date.now());
      }
      if (req === null && !conn.welcomed) {
        // The hello itself was refused: say it again on the same socket.
        const ws = conn.ws;
        setTimeout(() => { if (conn.ws === ws && !conn.welcomed) conn.send(conn.makeHello()); },
          holdUntil - Date.now());
      }
      flush();
      return;
    }

    if (req !== null) {
      const i = outbox.findIndex((e) => e.req === req);
      let refused = null;
      if (i >= 0) {
        refused = outbox[i].msg;
        if (refused.type === 'end') state.ending = false;
        outbox.splice(i, 1);
      }
      flush(); // the error answered it: the next queued request may go now
      // The bot item could not be chosen: its view does not open.
      if (refused && refused.type === 'select' && kindOf(refused.item) === 'bot') setWantBot(false);
      // Asking for the link's agent was answered: it is not asked again. Already
      // waiting or chatting (asked before a reload, say) is where it would lead.
      if (refused && refused.type === 'reach_agent') {
        setReach('done');
        if (code === 'already_waiting') {
          updateControls();
          return;
        }
      }
      // `human` refused (e.g. already waiting): said in the bot's view, where it was asked.
      if (refused && refused.type === 'human' && !CLOSING_CODES.includes(code)) {
        if (state.bot) {
          state.bot.handing = false;
          state.bot.error = botErrorText(code, msg.message);
          renderBot(false);
        } else {
          showError(errorText(code, msg.message));
        }
        updateControls();
        return;
      }
    }

    switch (code) {
      case 'invalid_phone':
        conn.stop(); // a fresh socket for the next try: no doubt about `already_started`
        setStarting(false);
        showPhoneError(errorText(code, msg.message));
        $('phone').focus();
        return;
      case 'unknown_link':
        dropLink(code, msg.message);
        return;
      case 'unknown_resume_token':
      case 'consultation_ended': {
        // The customer asked to end and the connection dropped before `ended` came
        // back: the end went through, so thank them rather than report an error.
        const asked = state.ending;
        // A link whose agent was not asked for yet (just opened, say, in a tab
        // whose consultation is over): start again through it.
        const link = state.reach === 'done' ? null : state.link;
        closeConsultation();
        if (asked && code === 'consultation_ended') {
          showDone(t('endedNoCount'));
          return;
        }
        if (link && !asked) {
          beginLink(link);
          return;
        }
        showStart();
        showError(errorText(code, msg.message));
        return;
      }
      case 'superseded':
        conn.stop(); // the other window has it now; reconnecting would take it back
        setStatus('');
        showView('superseded');
        $('superseded-title').focus();
        return;
      case 'shutting_down':
      case 'idle_timeout':
        // The server closes the socket next and we resume: nothing to tell the
        // customer beyond "Reconnecting…". Before a consultation exists there is
        // nothing to resume, so the start form reports it; a start through a
        // link tries again (it asks the customer nothing).
        if (!state.token && !state.link) failStart(errorText(code, msg.message));
        return;
      case 'unsupported_protocol':
        conn.stop();
        setStatus('');
        setStarting(false);
        showError(errorText(code, msg.message));
        return;
      default:
        if (!state.token && !conn.welcomed) {
          failStart(errorText(code, msg.message));
          return;
        }
        showError(errorText(code, msg.message));
        updateControls();
    }
  }

  // The socket closed without us asking.
  function onDisconnected() {
    if (state.token && ['menu', 'loading', 'chat', 'bot'].includes(state.view)) {
      setStatus(t('reconnecting'));
      conn.retry();
    } else if (state.link && state.view === 'loading') {
      // Starting through a link: nothing was typed that an error could point
      // at, so keep trying, as a resume does.
      setStatus(t('reconnecting'));
      conn.retry();
    } else if (state.starting) {
      failStart(t('connectFailed'));
    }
    updateControls();
  }

  // ---------------------------------------------------------------- lifecycle

  function resetConsultation() {
    outbox.length = 0;
    Object.assign(state, {
      token: null, consultation: null, screen: null, screenKey: '',
      lastShown: 0, lastAck: 0, counter: 0, ending: false, queue: null, chat: null, bot: null,
      wantBot: false, link: null, reach: '', fellBack: null,
    });
    says.length = 0;
    asks.length = 0;
    holdUntil = 0;
  }

  // The consultation is over (or gone): forget it so a reload starts afresh.
  function closeConsultation() {
    conn.stop();
    store.clear();
    state.token = null;
    state.ending = false;
    state.queue = null;
    state.chat = null;
    state.bot = null;
    state.wantBot = false;
    state.link = null;
    state.reach = '';
    state.fellBack = null;
    says.length = 0;
    asks.length = 0;
    clearTimeout(confirmTimer);
    confirmTimer = null;
    renderQueue();
    setStarting(false);
    outbox.length = 0;
    setStatus('');
  }

  function begin(phone) {
    resetConsultation(); // a new consultation: request numbers start again at 1
    setLink(null);
    setReach('');
    setStarting(true);
    conn.open(startHello(phone));
  }

  function resume() {
    $('loading-text').textContent = t(state.link ? 'linkLoading' : 'loading');
    showView('loading');
    conn.open(resumeHello);
  }

  function failStart(text) {
    conn.stop();
    setStarting(false);
    setStatus('');
    // A start through a link shows no form until it fails: the phone form then.
    if (state.view === 'loading' && !state.token) showStart();
    showError(text);
  }

  // ---------------------------------------------------------------- rendering

  const VIEWS = {
    start: 'start-view', loading: 'loading-view', menu: 'menu-view', chat: 'chat-view',
    bot: 'bot-view', done: 'done', superseded: 'superseded-view',
  };

  function showView(name) {
    state.view = name;
    for (const [key, id] of Object.entries(VIEWS)) $(id).hidden = key !== name;
    // The chat and the bot fill the screen, their field at the bottom like any
    // messenger's.
    document.body.classList.toggle('chatting', name === 'chat' || name === 'bot');
  }

  function showStart() {
    showView('start');
    setStarting(false);
  }

  function setStatus(text) {
    $('status').textContent = text;
  }

  function setStarting(on) {
    state.starting = on;
    const button = $('start');
    // aria-disabled rather than disabled: a disabled button drops keyboard focus.
    button.setAttribute('aria-disabled', on ? 'true' : 'false');
    button.textContent = t(on ? 'starting' : 'start');
    $('start-form').setAttribute('aria-busy', on ? 'true' : 'false');
  }

  function showPhoneError(text) {
    $('phone-error').textContent = text;
    $('phone').setAttribute('aria-invalid', 'true');
  }

  function clearPhoneError() {
    $('phone-error').textContent = '';
    $('phone').removeAttribute('aria-invalid');
  }

  // Icons say what an item does before its title is read; the kind label makes
  // the services that put you in touch with someone recognisable by text too.
  // Drawn as SVG paths, not emoji: emoji fonts differ or are missing.
  const ICONS = {
    submenu: ['M3.5 7.5a2 2 0 0 1 2-2h3.6l2 2h7.4a2 2 0 0 1 2 2v7.5a2 2 0 0 1-2 2h-13a2 2 0 0 1-2-2z'],
    content: ['M7 3.5h6.5l4.5 4.5v11a1.5 1.5 0 0 1-1.5 1.5h-9.5A1.5 1.5 0 0 1 5.5 19V5A1.5 1.5 0 0 1 7 3.5z',
      'M13.5 3.5V8H18', 'M9 12.5h6', 'M9 16h6'],
    voice: ['M6.5 4h3l1.5 4-2 1.5a10 10 0 0 0 5.5 5.5l1.5-2 4 1.5v3a2 2 0 0 1-2 2A15 15 0 0 1 4.5 6a2 2 0 0 1 2-2z'],
    chat: ['M5 5h14a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1h-8l-5 4v-4H5a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1z', 'M8.5 10.5h7'],
    bot: ['M12 3.5l1.6 4.4 4.4 1.6-4.4 1.6-1.6 4.4-1.6-4.4-4.4-1.6 4.4-1.6z',
      'M18 15l.7 1.8 1.8.7-1.8.7-.7 1.8-.7-1.8-1.8-.7 1.8-.7z'],
    chevron: ['M9.5 6l6 6-6 6'],
  };
  const SVG = 'http://www.w3.org/2000/svg';

  function icon(name, cls) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    if (cls) svg.setAttribute('class', cls);
    for (const d of ICONS[name] || []) {
      const path = document.createElementNS(SVG, 'path');
      path.setAttribute('d', d);
      svg.append(path);
    }
    return svg;
  }

  const ITEM_KINDS = ['submenu', 'content', 'voice', 'chat', 'bot'];
  const SERVICE_KINDS = ['voice', 'chat', 'bot'];

  function renderScreen(screen, moved) {
    state.screen = screen;
    const key = JSON.stringify(screen);
    const path = Array.isArray(screen.path) ? screen.path : [];
    // At the top there is nowhere to go back or home to.
    $('back').hidden = path.length <= 1;
    $('home').hidden = path.length <= 1;

    if (key !== state.screenKey) {
      state.screenKey = key;
      $('menu-title').textContent = screen.title;

      const crumbs = $('crumbs');
      crumbs.textContent = '';
      path.forEach((c, i) => {
        const li = el('li', {}, c.title);
        if (i === path.length - 1) li.setAttribute('aria-current', 'location');
        crumbs.append(li);
      });
      // At the root the breadcrumb would only repeat the heading.
      $('breadcrumb').hidden = path.length <= 1;

      // Keep keyboard focus on the same item when the list is rebuilt in place.
      const focused = document.activeElement && document.activeElement.dataset
        ? document.activeElement.dataset.item : undefined;
      const list = $('items');
      list.textContent = '';
      for (const item of screen.items || []) list.append(renderItem(item));
      if (!moved && focused) {
        const again = Array.from(list.querySelectorAll('button.item')).find((b) => b.dataset.item === focused);
        if (again) again.focus();
      }
    }

    markShown();

    if (moved) {
      window.scrollTo(0, 0);
      $('menu-title').focus();
    }
  }

  // The item whose answer is on display is marked in the list.
  function markShown() {
    for (const b of $('items').querySelectorAll('button.item')) {
      if (state.shownItem && b.dataset.item === state.shownItem) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
  }

  function renderItem(item) {
    const kind = String(item.kind);
    const button = el('button', { type: 'button', class: 'item', 'data-item': item.id, 'data-kind': kind });
    const badge = el('span', { class: 'item-icon', 'aria-hidden': 'true' });
    badge.append(icon(ITEM_KINDS.includes(kind) ? kind : 'content'));
    button.append(badge);
    button.append(el('span', { class: 'item-title' }, item.title));
    if (SERVICE_KINDS.includes(kind)) {
      const label = t(`kind_${kind}`);
      button.append(el('span', { class: 'item-kind' }, label));
      // Spans run together in the accessible name ("Talk to usCall"): spell it out.
      button.setAttribute('aria-label', `${item.title}, ${label}`);
    }
    if (kind === 'submenu') button.append(icon('chevron', 'item-chevron'));
    const li = el('li');
    li.append(button);
    return li;
  }

  // Content and notices are shown above the list, with the menu still below them.
  function showAnswer(content, notice, screen) {
    state.shownItem = content ? content.item : null;
    const box = $('content');
    box.textContent = '';
    if (content) {
      box.append(el('h2', { class: 'content-title' }, content.title));
      box.append(el('p', { class: 'content-text' }, content.text));
    }
    const noticeBox = $('notice');
    noticeBox.textContent = '';
    if (notice) noticeBox.append(el('p', {}, noticeText(notice, screen)));
  }

  function noticeText(notice, screen) {
    if (notice.code === 'not_available_yet') {
      const items = (screen && screen.items) || [];
      const item = items.find((i) => i.id === notice.item);
      return t('notAvailable', item ? item.title : '');
    }
    const notices = STRINGS[LANG].notices;
    return notices[notice.code] || notice.message || '';
  }

  // The waiting panel above the menu.
  function renderQueue() {
    const q = state.queue;
    $('queue').hidden = !q;
    $('menu-view').classList.toggle('waiting', !!q);
    if (!q) return;
    const agent = q.waitingFor ? q.waitingFor.name : null;
    $('queue-title').textContent = agent ? t('queueFor', agent) : t('queueTitle');
    $('queue').dataset.for = agent ? 'agent' : '';
    $('queue-position').textContent = String(q.position);
    $('queue-position-label').textContent = t('queuePosition');
    let wait;
    if (agent) wait = t('queueForWait', agent);
    else if (q.agentsAvailable > 0) wait = t('queueWait', Math.max(1, Math.ceil(q.estimatedWaitMs / 60000)));
    else wait = t('queueNoAgents');
    $('queue-wait').textContent = wait;
    $('queue-requeued').hidden = !q.requeued;
    const fell = $('queue-fellback');
    fell.textContent = state.fellBack !== null && !agent ? t('fellBack', state.fellBack) : '';
    fell.hidden = !fell.textContent;
  }

  // The chat: stored lines by seq, then ours still on their way.
  function renderChat(toBottom) {
    const chat = state.chat;
    if (!chat) return;
    $('chat-title').textContent = (chat.agent && chat.agent.name) || '';
    $('agent-status').textContent = chat.online ? '' : t('agentOffline');
    const pending = says.map((m) => ({ from: 'customer', text: m.text, id: m.id }));
    common.showLines($('chat-lines'), chat.lines, pending, renderLine, toBottom);
  }

  function renderLine(line, pending) {
    const mine = line.from === 'customer';
    const li = el('li', { class: `line ${mine ? 'mine' : 'theirs'}${pending ? ' pending' : ''}` });
    if (typeof line.seq === 'number') li.dataset.seq = String(line.seq);
    li.append(el('p', { class: 'line-text' }, line.text));
    let meta = '';
    if (pending) meta = t('sending');
    else if (TIME && typeof line.at_ms === 'number') meta = TIME.format(new Date(line.at_ms));
    if (meta) li.append(el('span', { class: 'line-meta' }, meta));
    return li;
  }

  // The bot's view: the conversation (stored turns by seq, then our questions on
  // their way), what stands with a person, the offer, an inline error.
  function renderBot(toBottom) {
    const bot = state.bot;
    if (!bot) return;
    $('bot-title').textContent = bot.title || t('botTitle');
    const list = $('bot-lines');
    const pending = asks.map((a) => ({ id: a.id, question: a.text }));
    common.showLines(list, bot.turns, pending, renderTurn, toBottom);
    if (bot.turns.size === 0 && pending.length === 0) list.append(el('li', { class: 'bot-intro' }, t('botIntro')));
    let status = '';
    if (state.chat) status = t('botChatting');
    else if (state.queue) status = t('botWaiting', state.queue.position);
    else if (bot.handing) status = t('botConnecting');
    $('bot-status').textContent = status;
    $('bot-offer').hidden = !bot.offer || bot.handing || !!state.queue || !!state.chat;
    $('bot-error').textContent = bot.error || '';
  }

  // One question and its answer (two lines), or a question on its way.
  function renderTurn(turn, pending) {
    const f = document.createDocumentFragment();
    const q = el('li', { class: `line mine${pending ? ' pending' : ''}`, 'data-question': String(turn.id) });
    q.append(el('p', { class: 'line-text' }, String(turn.question)));
    if (pending) q.append(el('span', { class: 'line-meta' }, t('sending')));
    f.append(q);
    if (pending) return f;
    const a = el('li', { class: 'line theirs bot-answer', 'data-answer': String(turn.id) });
    if (turn.answer) {
      a.dataset.entry = String(turn.answer.entry);
      const text = el('p', { class: 'line-text bot-text' });
      text.append(richText(String(turn.answer.text)));
      a.append(text);
      if (state.bot.helped.has(turn.id)) {
        a.append(el('p', { class: 'helped-done' }, t('helpedThanks')));
      } else {
        const busyHelping = state.bot.helping.has(turn.id);
        a.append(el('button', {
          type: 'button', class: 'helped', 'data-id': String(turn.id),
          'aria-disabled': busyHelping ? 'true' : 'false',
        }, t('helped')));
      }
    } else {
      a.classList.add('no-answer');
      a.append(el('p', { class: 'line-text' }, t('noAnswer')));
    }
    f.append(a);
    return f;
  }

  // Answers may be Markdown. Shown as text (the paragraph keeps line breaks), but
  // `code` and **bold** become elements, their text set as text: nothing from the
  // answer is ever parsed as HTML.
  function richText(text) {
    const f = document.createDocumentFragment();
    const marks = /`([^`\n]+)`|\*\*([^*\n]+)\*\*/g;
    let last = 0;
    let m;
    while ((m = marks.exec(text)) !== null) {
      if (m.index > last) f.append(document.createTextNode(text.slice(last, m.index)));
      f.append(m[1] !== undefined ? el('code', {}, m[1]) : el('strong', {}, m[2]));
      last = marks.lastIndex;
    }
    if (last < text.length) f.append(document.createTextNode(text.slice(last)));
    return f;
  }

  // Bring the answer into view: on a phone the chosen item may be far below it.
  function revealAnswer() {
    const target = $('notice').firstChild ? $('notice') : $('content');
    const still = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    if (target.scrollIntoView) target.scrollIntoView({ block: 'nearest', behavior: still ? 'auto' : 'smooth' });
  }

  // Items are not marked disabled while an answer is awaited: that would flicker on
  // every tap. Clicks are ignored instead, and the chosen item shows it is pending.
  function updateControls() {
    const waiting = busy();
    const list = $('items');
    list.setAttribute('aria-busy', waiting ? 'true' : 'false');
    for (const b of list.querySelectorAll('button.item')) {
      b.setAttribute('aria-disabled', state.ending ? 'true' : 'false');
      if (!waiting) b.classList.remove('pending');
    }
    for (const id of ['back', 'home', 'end', 'chat-end', 'chat-send', 'queue-cancel',
      'bot-send', 'bot-accept', 'bot-human', 'bot-menu']) {
      $(id).setAttribute('aria-disabled', state.ending ? 'true' : 'false');
    }
    // A decline is not kept for later: it needs the connection.
    $('bot-decline').setAttribute('aria-disabled', state.ending || !conn.ready() ? 'true' : 'false');
  }

  // A message field grows with its text, up to a few lines.
  function fitInput(input) {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  // ---------------------------------------------------------------- events

  function wire() {
    $('start-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (state.starting) return;
      const phone = $('phone').value.trim();
      hideError();
      if (!phone) {
        showPhoneError(t('phoneRequired'));
        $('phone').focus();
        return;
      }
      clearPhoneError();
      begin(phone);
    });
    $('phone').addEventListener('input', () => {
      if ($('phone').getAttribute('aria-invalid')) clearPhoneError();
    });

    $('items').addEventListener('click', (ev) => {
      const button = ev.target.closest('button.item');
      if (!button || state.view !== 'menu' || state.ending || busy()) return;
      button.classList.add('pending');
      // Its `bot_opened` (after the screen) opens the bot's view.
      if (button.dataset.kind === 'bot') setWantBot(true, itemTitle(button.dataset.item));
      request('select', { item: button.dataset.item });
    });

    const nav = (type) => () => {
      if (state.view !== 'menu' || state.ending) return;
      if (type === 'end') state.ending = true;
      request(type);
    };
    $('back').addEventListener('click', nav('back'));
    $('home').addEventListener('click', nav('home'));
    $('end').addEventListener('click', nav('end'));

    $('error-dismiss').addEventListener('click', hideError);

    $('queue-cancel').addEventListener('click', () => {
      if (state.view !== 'menu' || state.ending || !state.queue || busy()) return;
      request('cancel');
    });

    $('chat-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = $('chat-input');
      const text = input.value.trim();
      if (!text || !state.chat || state.ending) return;
      input.value = '';
      fitInput(input);
      say(text);
      input.focus();
    });
    common.sendOnEnter($('chat-input'), $('chat-form'));
    $('chat-input').addEventListener('input', () => fitInput($('chat-input')));
    $('chat-end').addEventListener('click', () => {
      if (state.view !== 'chat' || state.ending) return;
      state.ending = true;
      request('end');
    });

    $('bot-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = $('bot-input');
      const text = input.value.trim();
      if (!text || !state.bot || state.ending) return;
      input.value = '';
      fitInput(input);
      ask(text);
      input.focus();
    });
    common.sendOnEnter($('bot-input'), $('bot-form'));
    $('bot-input').addEventListener('input', () => fitInput($('bot-input')));
    $('bot-menu').addEventListener('click', () => {
      if (state.view === 'bot' && !state.ending) leaveBot();
    });
    $('bot-accept').addEventListener('click', askHuman);
    $('bot-human').addEventListener('click', askHuman);
    $('bot-decline').addEventListener('click', decline);
    $('bot-lines').addEventListener('click', (ev) => {
      const button = ev.target.closest('button.helped');
      if (button) helped(button.dataset.id);
    });

    $('restart').addEventListener('click', () => {
      hideError();
      clearPhoneError();
      showStart();
      $('phone').focus();
    });

    $('take-over').addEventListener('click', () => {
      hideError();
      resume();
    });

    common.whenBack(() => conn.nudge());
  }

  // ---------------------------------------------------------------- start

  translatePage();
  wire();

  // A test hook: browser tests read the connection state from here.
  window.frontdesk = {
    state: () => ({
      view: state.view,
      consultation: state.consultation,
      lastAck: state.lastAck,
      connected: conn.connected(),
      outbox: outbox.length,
      queue: state.queue && Object.assign({}, state.queue),
      chat: state.chat && {
        service: state.chat.service,
        agent: state.chat.agent && state.chat.agent.name,
        online: state.chat.online,
        stale: state.chat.stale,
        lines: common.inOrder(state.chat.lines)
          .map((l) => ({ seq: l.seq, from: l.from, text: l.text, id: l.id })),
      },
      says: says.map((m) => ({ id: m.id, text: m.text, sent: m.sent })),
      bot: state.bot && {
        item: state.bot.item,
        offer: state.bot.offer,
        stale: state.bot.stale,
        handing: state.bot.handing,
        error: state.bot.error,
        helped: Array.from(state.bot.helped),
        turns: common.inOrder(state.bot.turns).map((x) => ({
          id: x.id,
          seq: x.seq,
          question: x.question,
          entry: x.answer ? x.answer.entry : null,
          answer: x.answer ? x.answer.text : null,
        })),
      },
      asks: asks.map((a) => ({ id: a.id, text: a.text, sent: a.sent })),
      link: state.link,
      reach: state.reach,
      fellBack: state.fellBack,
    }),
    // Closes the socket as a dropped network would, without ending anything: the
    // page must reconnect and resume on its own.
    dropConnection: () => {
      if (conn.ws) conn.ws.close();
    },
  };

  const linked = linkFromAddress();
  const saved = store.get(KEY_TOKEN);
  if (saved) {
    // A reload mid-consultation picks it up again instead of asking for the phone.
    state.token = saved;
    state.consultation = store.get(KEY_CONSULTATION);
    state.counter = Number(store.get(KEY_REQ)) || 0;
    state.link = store.get(KEY_LINK);
    state.reach = store.get(KEY_REACH) || '';
    if (linked && linked !== state.link) {
      // A new link opened in a tab with a consultation open: it continues, and
      // the new link's agent is asked for.
      setLink(linked);
      setReach('');
    }
    loadSays();
    loadAsks();
    state.wantBot = store.get(KEY_BOT) !== null;
    resume();
  } else if (linked) {
    beginLink(linked);
  } else {
    showStart();
  }
  // `?link=` with something that cannot be a link's code: said as for an unknown one.
  if (linked === null) showError(errorText('unknown_link', ''));
}());
