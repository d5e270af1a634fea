/**
 * rtcroom's drop-in replacement for the Tencent WebIM SDK file of 2018 WeChat mini-programs
 * (`utils/webim_wx.js`).
 *
 * The 2018 room libraries (`rtcroom.js`, `liveroom.js`, through `webim_handler.js`) hear of
 * joins, leaves, the room closing, chat and link-mic only through Tencent IM. Copy this file
 * over `utils/webim_wx.js` and they hear the same things from rtcroom's room events instead;
 * nothing else changes. It finds the server in the mini-program's `config.js`
 * (`roomServiceUrl`), signs in there with the UserSig the room library already has
 * (`POST /weapp/utils/login`), and keeps one WebSocket (a "session connection",
 * spec/events.md EV-11 to EV-14) at the address the server names (`eventsURL`, the cloud's
 * WebSocket API) or at `{server}/ws`. An IM group is a room: joining the group joins the room's
 * events by roomID, and may wait for the membership the room library is about to create.
 *
 * How IM calls map onto room events:
 *   webim.login            → POST /weapp/utils/login, then the WebSocket
 *   applyJoinBigGroup      → {"type":"join","roomID"}        (JoinedSuccess once accepted)
 *   quitBigGroup           → {"type":"leave"}
 *   sendMsg (group)        → CustomTextMsg / CustomCmdMsg     (custom element + text)
 *   sendMsg (C2C)          → linkmic / C2CCustomMsg           (custom element {cmd, data})
 *   notifyPusherChange     → onGroupSystemNotifys["255"]      (UserDefinedField)
 *   roomClosed             → onGroupSystemNotifys["5"]        (group dismissed)
 *   CustomTextMsg/CmdMsg   → onBigGroupMsgNotify              (custom element + text)
 *   linkmic/C2CCustomMsg   → onMsgNotify                      (C2C custom element)
 *
 * Only what a mini-program has is used: wx.request, wx.connectSocket (SocketTask),
 * wx.getStorageSync/setStorageSync, setTimeout. Written for rtcroom; not derived from
 * Tencent's SDK.
 */

var ACTION_STATUS = { OK: 'OK', FAIL: 'FAIL' };

/** Waits and bounds (milliseconds unless said otherwise). */
var LIMITS = {
  requestTimeout: 10000, // an HTTP call or an answer over the socket
  pingEvery: 20000, // keeps API Gateway's idle timeout away; lets the cloud answer a run-out join
  silentFor: 65000, // no frame at all for this long: the connection is dead, reconnect
  reconnectFirst: 1000, // then doubling up to reconnectMax
  reconnectMax: 30000,
  queued: 50, // messages held while connecting or while a join waits
  seenSeqs: 256, // event numbers remembered to drop one delivered twice
  // After a resume, events wait this long after the last one arrived (at most resumeMax) and
  // go out in seq order: in the cloud the replay of what was missed and the new events come
  // from two senders and may cross.
  resumeSettle: 500,
  resumeMax: 3000,
};

var SESSION_TYPE = { C2C: 'C2C', GROUP: 'GROUP' };
var MSG_MAX_LENGTH = { C2C: 12000, GROUP: 8898 };
var MSG_ELEMENT_TYPE = {
  TEXT: 'TIMTextElem',
  FACE: 'TIMFaceElem',
  IMAGE: 'TIMImageElem',
  CUSTOM: 'TIMCustomElem',
  SOUND: 'TIMSoundElem',
  FILE: 'TIMFileElem',
  LOCATION: 'TIMLocationElem',
  GROUP_TIP: 'TIMGroupTipElem',
};
var C2C_MSG_SUB_TYPE = { COMMON: 0 };
var GROUP_MSG_SUB_TYPE = { COMMON: 0, LOVEMSG: 1, TIP: 2, REDPACKET: 3 };
var GROUP_TIP_TYPE = {
  JOIN: 1,
  QUIT: 2,
  KICK: 3,
  SET_ADMIN: 4,
  CANCEL_ADMIN: 5,
  MODIFY_GROUP_INFO: 6,
  MODIFY_MEMBER_INFO: 7,
};
var GROUP_TIP_MODIFY_GROUP_INFO_TYPE = { FACE_URL: 1, NAME: 2, OWNER: 3, NOTIFICATION: 4, INTRODUCTION: 5 };
var GROUP_SYSTEM_TYPE = {
  JOIN_GROUP_REQUEST: 1,
  JOIN_GROUP_ACCEPT: 2,
  JOIN_GROUP_REFUSE: 3,
  KICK: 4,
  DESTORY: 5,
  CREATE: 6,
  INVITED_JOIN_GROUP_REQUEST: 7,
  QUIT: 8,
  SET_ADMIN: 9,
  CANCEL_ADMIN: 10,
  REVOKE: 11,
  READED: 15,
  CUSTOM: 255,
};
var IMAGE_TYPE = { ORIGIN: 1, LARGE: 2, SMALL: 3 };
var CONNECTION_STATUS = { INIT: -1, ON: 0, RECONNECT: 1, OFF: 9999 };
var TLS_ERROR_CODE = { OK: 0, SIGNATURE_EXPIRATION: 11 };

/** Error codes of this file (negative, like the SDK's own). */
var ERROR = {
  NOT_LOGGED_IN: -1,
  BAD_ARGUMENT: -2,
  SERVER: -3, // the server answered a code other than 0
  NETWORK: -4,
  TIMEOUT: -5,
  NOT_IN_GROUP: -6,
  UNSUPPORTED: -7,
  TOO_MANY: -8,
  JOIN_FAILED: -9,
};

function failure(info, code) {
  return { ActionStatus: ACTION_STATUS.FAIL, ErrorCode: code, ErrorInfo: info + '[' + code + ']' };
}

function success(extra) {
  var answer = { ActionStatus: ACTION_STATUS.OK, ErrorCode: 0, ErrorInfo: '' };
  for (var k in extra || {}) answer[k] = extra[k];
  return answer;
}

function nowSecs() {
  return Math.round(Date.now() / 1000);
}

/** Calls an application callback; an exception in it must not stop the event stream. */
function call(fn, arg) {
  if (typeof fn !== 'function') return;
  try {
    fn(arg);
  } catch (e) {
    log.error('rtcroom webim: a listener threw: ' + (e && e.stack ? e.stack : e));
  }
}

// ---- Tool and Log ---------------------------------------------------------------------

var log = {
  on: true,
  setOn: function (on) { this.on = on; },
  getOn: function () { return this.on; },
  error: function (s) { if (this.on) console.error(s); },
  warn: function (s) { if (this.on) console.warn(s); },
  info: function (s) { if (this.on) console.info(s); },
  debug: function (s) { if (this.on) console.debug(s); },
};

/** Mini-programs have no document.cookie: "cookies" live in wx storage with an expiry. */
var cookieKey = function (name) { return 'rtcroom_webim_cookie_' + name; };

var tool = {
  getStrBytes: function (str) {
    if (typeof str !== 'string') return 0;
    var total = 0;
    for (var i = 0; i < str.length; i++) {
      var c = str.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < str.length) {
        total += 4; // a surrogate pair is one 4-byte character
        i++;
      } else if (c <= 0x7f) total += 1;
      else if (c <= 0x7ff) total += 2;
      else total += 3;
    }
    return total;
  },
  formatText2Html: function (text) {
    if (!text) return text;
    return tool.xssFilter(text).replace(/ /g, '&nbsp;').replace(/\n/g, '<br/>');
  },
  formatHtml2Text: function (html) {
    if (!html) return html;
    return html.replace(/&nbsp;/g, ' ').replace(/<br\/>/g, '\n');
  },
  xssFilter: function (val) {
    return String(val).replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  },
  trimStr: function (str) {
    return str ? String(str).replace(/(^\s*)|(\s*$)/g, '') : '';
  },
  formatTimeStamp: function (timestamp, format) {
    if (!timestamp) return 0;
    var d = new Date(timestamp * 1000);
    var pad = function (n) { return n < 10 ? '0' + n : '' + n; };
    var parts = {
      yyyy: '' + d.getFullYear(),
      MM: pad(d.getMonth() + 1),
      dd: pad(d.getDate()),
      hh: pad(d.getHours()),
      mm: pad(d.getMinutes()),
      ss: pad(d.getSeconds()),
    };
    return (format || 'yyyy-MM-dd hh:mm:ss').replace(/yyyy|MM|dd|hh|mm|ss/g, function (k) {
      return parts[k];
    });
  },
  getReturnError: failure,
  setCookie: function (name, value, expiresSecs) {
    storage.set(cookieKey(name), { value: String(value), until: Date.now() + (expiresSecs || 0) * 1000 });
  },
  getCookie: function (name) {
    var kept = storage.get(cookieKey(name));
    return kept && kept.until > Date.now() ? kept.value : null;
  },
  delCookie: function (name) {
    storage.set(cookieKey(name), null);
  },
  getQueryString: function () {
    return null; // a mini-program page has no location.search
  },
};

var storage = {
  set: function (key, value) {
    try {
      wx.setStorageSync(key, value);
    } catch (e) {
      log.warn('rtcroom webim: storage unavailable: ' + e);
    }
  },
  get: function (key) {
    try {
      return wx.getStorageSync(key) || null;
    } catch (e) {
      return null;
    }
  },
};

// ---- Sessions, messages and their elements ----------------------------------------------

function Session(type, id, name, icon, time, seq) {
  this._impl = {
    type: type,
    id: id,
    name: name,
    icon: icon,
    time: time >= 0 ? time : 0,
    curMaxMsgSeq: seq >= 0 ? seq : 0,
    unread: 0,
    msgs: [],
  };
}
Session.prototype.type = function () { return this._impl.type; };
Session.prototype.id = function () { return this._impl.id; };
Session.prototype.name = function () { return this._impl.name; };
Session.prototype.icon = function () { return this._impl.icon; };
Session.prototype.time = function () { return this._impl.time; };
Session.prototype.curMaxMsgSeq = function () { return this._impl.curMaxMsgSeq; };
Session.prototype.msgs = function () { return this._impl.msgs; };
Session.prototype.msgCount = function () { return this._impl.msgs.length; };
Session.prototype.unread = function (val) {
  if (val === undefined) return this._impl.unread;
  this._impl.unread = val;
};
Session.prototype.isFinished = function () { return 1; };

var nextMsgSeq = 1;

function Msg(sess, isSend, seq, random, time, fromAccount, subType, fromAccountNick) {
  this.sess = sess;
  this.subType = subType >= 0 ? subType : 0;
  this.fromAccount = fromAccount;
  this.fromAccountNick = fromAccountNick || fromAccount;
  this.isSend = Boolean(isSend);
  this.seq = seq >= 0 ? seq : nextMsgSeq++;
  this.random = random >= 0 ? random : Math.round(Math.random() * 4294967296);
  this.time = time >= 0 ? time : nowSecs();
  this.elems = [];
}
Msg.prototype.getSession = function () { return this.sess; };
Msg.prototype.getType = function () { return this.subType; };
Msg.prototype.getSubType = function () { return this.subType; };
Msg.prototype.getFromAccount = function () { return this.fromAccount; };
Msg.prototype.getFromAccountNick = function () { return this.fromAccountNick; };
Msg.prototype.getIsSend = function () { return this.isSend; };
Msg.prototype.getSeq = function () { return this.seq; };
Msg.prototype.getTime = function () { return this.time; };
Msg.prototype.getRandom = function () { return this.random; };
Msg.prototype.getElems = function () { return this.elems; };
Msg.prototype.addElem = function (elem) { this.elems.push(elem); };
Msg.prototype.addText = function (text) { this.addElem(new Msg.Elem(MSG_ELEMENT_TYPE.TEXT, text)); };
Msg.prototype.addFace = function (face) { this.addElem(new Msg.Elem(MSG_ELEMENT_TYPE.FACE, face)); };
Msg.prototype.addCustom = function (c) { this.addElem(new Msg.Elem(MSG_ELEMENT_TYPE.CUSTOM, c)); };
Msg.prototype.addImage = function (i) { this.addElem(new Msg.Elem(MSG_ELEMENT_TYPE.IMAGE, i)); };
Msg.prototype.addLocation = function (l) { this.addElem(new Msg.Elem(MSG_ELEMENT_TYPE.LOCATION, l)); };
Msg.prototype.addFile = function (f) { this.addElem(new Msg.Elem(MSG_ELEMENT_TYPE.FILE, f)); };
Msg.prototype.toHtml = function () {
  return this.elems.map(function (e) { return e.toHtml(); }).join('');
};

Msg.Elem = function (type, content) {
  this.type = type;
  this.content = content;
};
Msg.Elem.prototype.getType = function () { return this.type; };
Msg.Elem.prototype.getContent = function () { return this.content; };
Msg.Elem.prototype.toHtml = function () {
  return this.content && this.content.toHtml ? this.content.toHtml() : '';
};

// Text is kept as it was typed: the room event carries it verbatim and the receiver's page
// shows it through data binding (the 2018 SDK escaped quotes and brackets into entities).
Msg.Elem.Text = function (text) { this.text = text == null ? '' : String(text); };
Msg.Elem.Text.prototype.getText = function () { return this.text; };
Msg.Elem.Text.prototype.toHtml = function () { return this.text; };

// Emoticons travel as their text code ("[微笑]"): there is no image set here, so the 2018
// handler sends them as text, and receivers show the code.
Msg.Elem.Face = function (index, data) { this.index = index; this.data = data; };
Msg.Elem.Face.prototype.getIndex = function () { return this.index; };
Msg.Elem.Face.prototype.getData = function () { return this.data; };
Msg.Elem.Face.prototype.toHtml = function () { return this.data; };

Msg.Elem.Custom = function (data, desc, ext) { this.data = data; this.desc = desc; this.ext = ext; };
Msg.Elem.Custom.prototype.getData = function () { return this.data; };
Msg.Elem.Custom.prototype.getDesc = function () { return this.desc; };
Msg.Elem.Custom.prototype.getExt = function () { return this.ext; };
Msg.Elem.Custom.prototype.toHtml = function () { return this.data; };

Msg.Elem.Location = function (longitude, latitude, desc) {
  this.longitude = longitude;
  this.latitude = latitude;
  this.desc = desc;
};
Msg.Elem.Location.prototype.getLongitude = function () { return this.longitude; };
Msg.Elem.Location.prototype.getLatitude = function () { return this.latitude; };
Msg.Elem.Location.prototype.getDesc = function () { return this.desc; };
Msg.Elem.Location.prototype.toHtml = function () {
  return '经度=' + this.longitude + ',纬度=' + this.latitude + ',描述=' + this.desc;
};

// ---- The connection ---------------------------------------------------------------------

var state = {
  loginInfo: null,
  listeners: {},
  server: '', // the room service base, e.g. https://rooms.example.com
  token: '',
  eventsURL: '',
  socket: null,
  open: false,
  everOpened: false,
  closing: false, // logout: no reconnect
  reconnectDelay: LIMITS.reconnectFirst,
  reconnectTimer: null,
  pingTimer: null,
  lastHeard: 0,
  nextId: 1,
  waiting: {}, // id → {ok, err, timer}
  outbox: [], // frames held until the socket opens
  group: null, // {roomID, state: 'pending'|'admitted', roomType, lastSeq, held: [...]}
  seen: [],
};

/** The room service the mini-program's config.js names (roomServiceUrl, else serverUrl). */
function configuredServer() {
  var config = {};
  try {
    config = require('../config.js') || {};
  } catch (e) {
    log.warn('rtcroom webim: no ../config.js next to utils/: ' + e);
  }
  return config.roomServiceUrl || config.serverUrl || '';
}

/** The base without a trailing "/" or "/weapp". */
function normalise(server) {
  return String(server || '').replace(/\/+$/, '').replace(/\/weapp$/, '');
}

/** {server}/ws with the scheme made ws(s). */
function derivedEventsURL(server) {
  return server.replace(/^http(s?):\/\//, 'ws$1://') + '/ws';
}

function request(path, body, ok, err) {
  wx.request({
    url: state.server + path,
    method: 'POST',
    data: body,
    header: { 'content-type': 'application/json' },
    timeout: LIMITS.requestTimeout,
    success: function (res) {
      var data = res && res.data;
      if (typeof data === 'string') {
        try {
          data = JSON.parse(data);
        } catch (e) {
          data = null;
        }
      }
      if (!data || typeof data.code !== 'number') {
        return err(failure('rtcroom: no answer from ' + path + ' (HTTP ' + (res && res.statusCode) + ')', ERROR.SERVER));
      }
      if (data.code !== 0) {
        var refused = failure('rtcroom: ' + path + ': ' + data.message + ' (code ' + data.code + ')', ERROR.SERVER);
        refused.ServerCode = data.code;
        return err(refused);
      }
      ok(data);
    },
    fail: function (res) {
      err(failure('rtcroom: ' + path + ': ' + ((res && res.errMsg) || 'request failed'), ERROR.NETWORK));
    },
  });
}

/** login → token and events address. */
function signIn(ok, err) {
  var info = state.loginInfo;
  request(
    '/weapp/utils/login',
    {
      userID: String(info.identifier),
      sdkAppID: info.sdkAppID,
      userSig: info.userSig,
      accountType: info.accountType,
    },
    function (data) {
      state.token = data.token;
      state.eventsURL = data.eventsURL || derivedEventsURL(state.server);
      ok();
    },
    err
  );
}

function socketURL() {
  return (
    state.eventsURL +
    (state.eventsURL.indexOf('?') >= 0 ? '&' : '?') +
    'userID=' +
    encodeURIComponent(state.loginInfo.identifier) +
    '&token=' +
    encodeURIComponent(state.token)
  );
}

/** Opens the socket; `opened` once, with true when it opened and false when it could not. */
function connect(opened) {
  var settled = false;
  var settle = function (ok) {
    if (!settled) {
      settled = true;
      if (opened) opened(ok);
    }
  };
  var task;
  try {
    task = wx.connectSocket({ url: socketURL() });
  } catch (e) {
    log.error('rtcroom webim: connectSocket failed: ' + e);
    return settle(false);
  }
  state.socket = task;
  task.onOpen(function () {
    if (state.socket !== task) return;
    state.open = true;
    state.lastHeard = Date.now();
    state.reconnectDelay = LIMITS.reconnectFirst;
    startPinging();
    var held = state.outbox;
    state.outbox = [];
    held.forEach(function (text) { rawSend(text); });
    settle(true);
  });
  task.onMessage(function (message) {
    if (state.socket !== task) return;
    state.lastHeard = Date.now();
    var frame;
    try {
      frame = JSON.parse(message.data);
    } catch (e) {
      return log.warn('rtcroom webim: a frame that is not JSON');
    }
    onFrame(frame);
  });
  var lost = function (why) {
    if (state.socket !== task) return;
    var wasOpen = state.open;
    state.open = false;
    state.socket = null;
    stopPinging();
    // Until the group is joined again, messages wait (they would reach no room).
    if (state.group && state.group.state === 'admitted') state.group.state = 'rejoining';
    settle(false);
    failWaiting('rtcroom: the connection closed (' + why + ')', ERROR.NETWORK);
    if (state.closing || !state.loginInfo) return;
    if (wasOpen) {
      call(state.listeners.onConnNotify, { ErrorCode: CONNECTION_STATUS.OFF, ErrorInfo: why });
    }
    if (state.everOpened) scheduleReconnect();
  };
  task.onClose(function (res) { lost('closed ' + ((res && res.code) || '')); });
  task.onError(function (res) { lost((res && res.errMsg) || 'socket error'); });
}

function scheduleReconnect() {
  if (state.reconnectTimer) return;
  var delay = state.reconnectDelay;
  state.reconnectDelay = Math.min(delay * 2, LIMITS.reconnectMax);
  state.reconnectTimer = setTimeout(function () {
    state.reconnectTimer = null;
    if (state.closing || !state.loginInfo) return;
    // A fresh token each time: the old one may have expired while the phone was away.
    signIn(
      function () {
        connect(function (ok) {
          if (!ok) return;
          call(state.listeners.onConnNotify, { ErrorCode: CONNECTION_STATUS.RECONNECT, ErrorInfo: '' });
          rejoin();
        });
      },
      function (e) {
        log.warn('rtcroom webim: sign-in for reconnect failed: ' + e.ErrorInfo);
        // A UserSig that no longer verifies will not start to: stay off (the room library's
        // next login brings a fresh one).
        if (e.ServerCode === 7) return;
        scheduleReconnect();
      }
    );
  }, delay);
}

/** After a reconnect: the group again, from the last event heard (nothing missed). */
function rejoin() {
  var group = state.group;
  if (!group) return;
  var frame = { type: 'join', roomID: group.roomID };
  if (group.state === 'rejoining') {
    frame.since = group.lastSeq;
    var resume = { events: [], timer: null, until: Date.now() + LIMITS.resumeMax };
    group.resume = resume;
    resume.timer = setTimeout(function () { flushResume(group, resume); }, LIMITS.resumeMax);
  }
  ask(frame, function (answer) {
    onJoined(group, answer);
  }, function (e) {
    log.warn('rtcroom webim: rejoin failed: ' + e.ErrorInfo);
  });
}

function startPinging() {
  stopPinging();
  state.pingTimer = setInterval(function () {
    if (!state.open) return;
    if (Date.now() - state.lastHeard > LIMITS.silentFor) {
      // Nothing heard, not even pongs: the network took the connection away silently.
      var task = state.socket;
      if (task) {
        try {
          task.close({ code: 4000, reason: 'silent' });
        } catch (e) {
          /* closing anyway */
        }
      }
      return;
    }
    rawSend(JSON.stringify({ type: 'ping' }));
  }, LIMITS.pingEvery);
}

function stopPinging() {
  if (state.pingTimer) clearInterval(state.pingTimer);
  state.pingTimer = null;
}

function rawSend(text) {
  if (!state.open || !state.socket) {
    if (state.outbox.length >= LIMITS.queued) return false;
    state.outbox.push(text);
    return true;
  }
  state.socket.send({ data: text });
  return true;
}

/** Sends a frame and waits for the answer carrying its id. */
function ask(frame, ok, err) {
  var id = state.nextId++;
  frame.id = id;
  var entry = {
    ok: ok,
    err: err,
    timer: setTimeout(function () {
      delete state.waiting[id];
      call(err, failure('rtcroom: no answer within ' + LIMITS.requestTimeout / 1000 + ' s', ERROR.TIMEOUT));
    }, LIMITS.requestTimeout),
  };
  state.waiting[id] = entry;
  if (!rawSend(JSON.stringify(frame))) {
    clearTimeout(entry.timer);
    delete state.waiting[id];
    call(err, failure('rtcroom: too many messages waiting for the connection', ERROR.TOO_MANY));
  }
}

function failWaiting(info, code) {
  var waiting = state.waiting;
  state.waiting = {};
  Object.keys(waiting).forEach(function (id) {
    clearTimeout(waiting[id].timer);
    call(waiting[id].err, failure(info, code));
  });
}

// ---- Frames from the server ---------------------------------------------------------------

function onFrame(frame) {
  if (frame.id !== undefined && state.waiting[frame.id]) {
    var entry = state.waiting[frame.id];
    delete state.waiting[frame.id];
    clearTimeout(entry.timer);
    if (frame.type === 'error') call(entry.err, failure('rtcroom: ' + frame.message, ERROR.SERVER));
    else call(entry.ok, frame);
    return;
  }
  switch (frame.type) {
    case 'joined':
      // A pending join admitted (the answer to the join itself carried its id).
      if (state.group && state.group.roomID === frame.roomID) onJoined(state.group, frame);
      return;
    case 'joinFailed':
      if (state.group && state.group.roomID === frame.roomID) {
        log.warn('rtcroom webim: joining group ' + frame.roomID + ' failed: ' + frame.reason);
        dropHeld(state.group, 'rtcroom: not a member of room ' + frame.roomID + ' in time');
        state.group = null;
      }
      return;
    case 'left':
      if (state.group && state.group.roomID === frame.roomID) {
        dropHeld(state.group, 'rtcroom: left room ' + frame.roomID);
        state.group = null;
      }
      return;
    case 'pong':
    case 'ack':
    case 'error':
      return;
    default:
      if (typeof frame.seq === 'number' && frame.roomID !== undefined) onEvent(frame);
  }
}

/** A join's answer (or a later admission): held messages go out once admitted. */
function onJoined(group, answer) {
  if (answer.state === 'pending') {
    group.state = 'pending';
    return;
  }
  if (answer.state !== 'admitted') return;
  group.state = 'admitted';
  group.roomType = answer.roomType;
  if (typeof answer.seq === 'number') group.lastSeq = Math.max(group.lastSeq, answer.seq);
  var held = group.held;
  group.held = [];
  held.forEach(function (send) { send(); });
}

function dropHeld(group, why) {
  var held = group.held;
  group.held = [];
  held.forEach(function (send) { send(why); });
}

function seenBefore(seq) {
  if (state.seen.indexOf(seq) >= 0) return true;
  state.seen.push(seq);
  if (state.seen.length > LIMITS.seenSeqs) state.seen.shift();
  return false;
}

function onEvent(event) {
  var group = state.group;
  if (!group || String(event.roomID) !== String(group.roomID)) return;
  var resume = group.resume;
  if (resume) {
    resume.events.push(event);
    if (resume.timer) clearTimeout(resume.timer);
    var wait = Math.max(0, Math.min(LIMITS.resumeSettle, resume.until - Date.now()));
    resume.timer = setTimeout(function () { flushResume(group, resume); }, wait);
    return;
  }
  deliver(event);
}

/** The events that arrived while resuming, in seq order. */
function flushResume(group, resume) {
  if (group.resume !== resume) return;
  group.resume = null;
  clearTimeout(resume.timer);
  resume.events.sort(function (a, b) { return a.seq - b.seq; });
  resume.events.forEach(deliver);
}

function deliver(event) {
  var group = state.group;
  if (!group || String(event.roomID) !== String(group.roomID)) return;
  // Events replayed after a reconnect may meet new ones; each is delivered once.
  if (seenBefore(event.seq)) return;
  group.lastSeq = Math.max(group.lastSeq || 0, event.seq);
  var data = event.data || {};
  switch (event.type) {
    case 'notifyPusherChange':
      return groupSystemNotify(GROUP_SYSTEM_TYPE.CUSTOM, event, JSON.stringify(data));
    case 'resync':
      // Events were missed: the room library re-reads the pushers, as after any change.
      return groupSystemNotify(GROUP_SYSTEM_TYPE.CUSTOM, event, JSON.stringify({ cmd: 'notifyPusherChange', data: '' }));
    case 'roomClosed':
      return groupSystemNotify(GROUP_SYSTEM_TYPE.DESTORY, event);
    case 'CustomTextMsg':
      return groupMessage(event, data.userID, {
        cmd: 'CustomTextMsg',
        data: { nickName: (data.data && data.data.nickName) || '', headPic: (data.data && data.data.headPic) || '' },
      }, data.msg);
    case 'CustomCmdMsg':
      var cmd = data.data || {};
      return groupMessage(event, data.userID, {
        cmd: 'CustomCmdMsg',
        data: {
          userName: cmd.userName || '',
          userAvatar: cmd.userAvatar || '',
          nickName: cmd.userName || '',
          headPic: cmd.userAvatar || '',
          cmd: cmd.cmd || '',
        },
      }, cmd.msg);
    case 'linkmic':
      return c2cMessage(event, data.from, { cmd: 'linkmic', data: data.data });
    case 'C2CCustomMsg':
      return c2cMessage(event, data.from, { cmd: data.cmd, data: data.data });
    default:
      // memberJoined, memberLeft, audience and stream events: the 2018 libraries re-read the
      // room on notifyPusherChange and need nothing else.
      return;
  }
}

function groupSystemNotify(type, event, userDefined) {
  var handlers = state.listeners.onGroupSystemNotifys || {};
  var notify = {
    ReportType: type,
    GroupId: String(event.roomID),
    GroupName: String(event.roomID),
    Operator_Account: '@TIM#SYSTEM',
    MsgTime: Math.round((event.at || Date.now()) / 1000),
    MsgSeq: event.seq,
    MsgRandom: event.seq,
  };
  if (userDefined !== undefined) notify.UserDefinedField = userDefined;
  call(handlers[String(type)], notify);
}

/** An IM message as the SDK would hand it over: one custom element, then the text if any. */
function incoming(event, session, from, subType, custom, text) {
  var msg = new Msg(
    session,
    from === state.loginInfo.identifier,
    event.seq,
    event.seq,
    Math.round((event.at || Date.now()) / 1000),
    from,
    subType,
    from
  );
  msg.addCustom(new Msg.Elem.Custom(JSON.stringify(custom), '', ''));
  if (text) msg.addText(new Msg.Elem.Text(text));
  return msg;
}

function groupMessage(event, from, custom, text) {
  var room = String(event.roomID);
  var session = new Session(SESSION_TYPE.GROUP, room, room, '', nowSecs());
  call(state.listeners.onBigGroupMsgNotify, [incoming(event, session, from, GROUP_MSG_SUB_TYPE.COMMON, custom, text)]);
}

function c2cMessage(event, from, custom) {
  var session = new Session(SESSION_TYPE.C2C, from, from, '', nowSecs());
  call(state.listeners.onMsgNotify, [incoming(event, session, from, C2C_MSG_SUB_TYPE.COMMON, custom)]);
}

// ---- Messages to the server ------------------------------------------------------------------

/** The custom element's JSON, and the text of the other elements. */
function contentOf(msg) {
  var custom = null;
  var text = '';
  (msg.getElems() || []).forEach(function (elem) {
    var content = elem.getContent();
    switch (elem.getType()) {
      case MSG_ELEMENT_TYPE.CUSTOM:
        if (custom === null) {
          try {
            custom = JSON.parse(content.getData());
          } catch (e) {
            custom = undefined; // not JSON: not something a room event can carry
          }
        }
        break;
      case MSG_ELEMENT_TYPE.TEXT:
        text += content.getText();
        break;
      case MSG_ELEMENT_TYPE.FACE:
        text += content.getData();
        break;
    }
  });
  return { custom: custom, text: text };
}

/** The room-event message for an IM message, or a failure. */
function frameFor(msg) {
  var session = msg.getSession();
  var content = contentOf(msg);
  var custom = content.custom;
  if (custom === undefined) return failure('rtcroom: a custom element that is not JSON', ERROR.UNSUPPORTED);
  if (session.type() === SESSION_TYPE.C2C) {
    if (!custom || typeof custom.cmd !== 'string') {
      return failure('rtcroom: one-to-one messages are custom elements {cmd, data}', ERROR.UNSUPPORTED);
    }
    if (custom.cmd === 'linkmic') return { type: 'linkmic', to: String(session.id()), data: custom.data || {} };
    return { type: 'C2CCustomMsg', to: String(session.id()), cmd: custom.cmd, data: custom.data === undefined ? null : custom.data };
  }
  var data = (custom && custom.data) || {};
  if (custom && custom.cmd === 'CustomCmdMsg') {
    return {
      type: 'CustomCmdMsg',
      cmd: String(data.cmd || ''),
      msg: content.text || String(data.msg || ''),
      userName: String(data.userName || data.nickName || ''),
      userAvatar: String(data.userAvatar || data.headPic || ''),
    };
  }
  if (custom && custom.cmd && custom.cmd !== 'CustomTextMsg') {
    return failure('rtcroom: group custom messages are CustomTextMsg or CustomCmdMsg', ERROR.UNSUPPORTED);
  }
  // Chat, with or without the 2018 custom element carrying the sender's nickname and avatar.
  return {
    type: 'CustomTextMsg',
    msg: content.text,
    nickName: String(data.nickName || msg.getFromAccountNick() || ''),
    headPic: String(data.headPic || ''),
  };
}

// ---- The API the room libraries call -----------------------------------------------------------

var webim = {};

webim.login = webim.init = function (loginInfo, listeners, options, cbOk, cbErr) {
  if (!loginInfo || !loginInfo.sdkAppID || !loginInfo.identifier || !loginInfo.userSig) {
    return call(cbErr, failure('loginInfo needs sdkAppID, identifier and userSig', ERROR.BAD_ARGUMENT));
  }
  var server = normalise((options && options.rtcroomServer) || webim.rtcroomServer || configuredServer());
  if (!server) {
    return call(cbErr, failure('rtcroom: set roomServiceUrl in config.js', ERROR.BAD_ARGUMENT));
  }
  shutdown();
  state.closing = false;
  state.loginInfo = loginInfo;
  state.listeners = listeners || {};
  state.server = server;
  state.nick = loginInfo.identifierNick || loginInfo.identifier;
  log.setOn(!(options && options.isLogOn === false));
  signIn(
    function () {
      connect(function (ok) {
        if (!ok) {
          var e = failure('rtcroom: the event connection to ' + state.eventsURL + ' did not open', ERROR.NETWORK);
          state.loginInfo = null;
          return call(cbErr, e);
        }
        state.everOpened = true;
        call(state.listeners.onConnNotify, { ErrorCode: CONNECTION_STATUS.ON, ErrorInfo: '' });
        call(cbOk, success({ identifierNick: state.nick }));
      });
    },
    function (e) {
      state.loginInfo = null;
      call(cbErr, e);
    }
  );
};

/** Closes the connection and forgets the session (no reconnect). */
function shutdown() {
  state.closing = true;
  if (state.reconnectTimer) clearTimeout(state.reconnectTimer);
  state.reconnectTimer = null;
  stopPinging();
  failWaiting('rtcroom: logged out', ERROR.NOT_LOGGED_IN);
  if (state.group) dropHeld(state.group, 'rtcroom: logged out');
  var task = state.socket;
  state.socket = null;
  state.open = false;
  state.everOpened = false;
  state.outbox = [];
  state.group = null;
  state.seen = [];
  state.token = '';
  if (task) {
    try {
      task.close({ code: 1000, reason: 'logout' });
    } catch (e) {
      /* already closed */
    }
  }
}

webim.logout = webim.offline = function (cbOk) {
  shutdown();
  state.loginInfo = null;
  call(cbOk, success());
};

function loggedIn(cbErr) {
  if (state.loginInfo) return true;
  call(cbErr, failure('not logged in', ERROR.NOT_LOGGED_IN));
  return false;
}

webim.applyJoinBigGroup = function (options, cbOk, cbErr) {
  if (!loggedIn(cbErr)) return;
  var roomID = options && options.GroupId;
  if (roomID === undefined || roomID === null || roomID === '') {
    return call(cbErr, failure('GroupId is empty', ERROR.BAD_ARGUMENT));
  }
  if (state.group) dropHeld(state.group, 'rtcroom: joined another group');
  var group = { roomID: String(roomID), state: 'pending', roomType: null, lastSeq: 0, held: [] };
  state.group = group;
  state.seen = [];
  ask({ type: 'join', roomID: group.roomID }, function (answer) {
    if (state.group !== group) return;
    onJoined(group, answer);
    // Accepted: the room library goes on (a viewer joins the group before add_audience, so
    // waiting for the membership here would wait forever).
    call(cbOk, success({ JoinedStatus: 'JoinedSuccess', GroupId: group.roomID }));
  }, function (e) {
    if (state.group === group) state.group = null;
    call(cbErr, e);
  });
};

webim.quitBigGroup = function (options, cbOk, cbErr) {
  if (!loggedIn(cbErr)) return;
  var group = state.group;
  state.group = null;
  if (group) dropHeld(group, 'rtcroom: left the group');
  if (!state.open) return call(cbOk, success({ GroupId: options && options.GroupId }));
  ask({ type: 'leave' }, function () {
    call(cbOk, success({ GroupId: options && options.GroupId }));
  }, cbErr);
};

// A group is a room: the room API creates and ends it, so these only answer.
webim.createGroup = function (options, cbOk) {
  call(cbOk, success({ GroupId: options && options.GroupId }));
};
webim.destroyGroup = function (options, cbOk) {
  call(cbOk, success({ GroupId: options && options.GroupId }));
};

webim.setProfilePortrait = function (options, cbOk) {
  (options && options.ProfileItem || []).forEach(function (item) {
    if (item.Tag === 'Tag_Profile_IM_Nick') state.nick = item.Value;
  });
  call(cbOk, success());
};

webim.sendMsg = function (msg, cbOk, cbErr) {
  if (!loggedIn(cbErr)) return;
  var frame = frameFor(msg);
  if (frame.ActionStatus === ACTION_STATUS.FAIL) return call(cbErr, frame);
  var group = state.group;
  if (!group) return call(cbErr, failure('rtcroom: join a group first', ERROR.NOT_IN_GROUP));
  var send = function (why) {
    if (why) return call(cbErr, failure(why, ERROR.JOIN_FAILED));
    ask(frame, function (ack) {
      call(cbOk, success({ MsgTime: nowSecs(), MsgSeq: ack.seq }));
    }, cbErr);
  };
  if (group.state === 'admitted') return send();
  // Sent while the membership is on its way (a 2018 viewer messages the anchor before its
  // add_audience), or while reconnecting: held until admitted, dropped with an error if the
  // join fails.
  if (group.held.length >= LIMITS.queued) {
    return call(cbErr, failure('rtcroom: too many messages waiting for the membership', ERROR.TOO_MANY));
  }
  group.held.push(send);
};

// Read receipts and history are not kept by rooms: these answer and do nothing.
webim.c2CMsgReaded = function (options, cbOk) { call(cbOk, success()); };
webim.groupMsgReaded = function (options, cbOk) { call(cbOk, success()); };
webim.setAutoRead = function () {};
webim.syncMsgs = function (cbOk) { call(cbOk, success()); };
webim.getC2CHistoryMsgs = function (options, cbOk) { call(cbOk, success({ MsgList: [] })); };
webim.syncGroupMsgs = function (options, cbOk) { call(cbOk, []); };
webim.getProfilePortrait = function (options, cbOk) {
  call(cbOk, success({ UserProfileItem: [] }));
};

webim.SESSION_TYPE = SESSION_TYPE;
webim.MSG_MAX_LENGTH = MSG_MAX_LENGTH;
webim.C2C_MSG_SUB_TYPE = C2C_MSG_SUB_TYPE;
webim.GROUP_MSG_SUB_TYPE = GROUP_MSG_SUB_TYPE;
webim.MSG_ELEMENT_TYPE = MSG_ELEMENT_TYPE;
webim.GROUP_TIP_TYPE = GROUP_TIP_TYPE;
webim.GROUP_TIP_MODIFY_GROUP_INFO_TYPE = GROUP_TIP_MODIFY_GROUP_INFO_TYPE;
webim.GROUP_SYSTEM_TYPE = GROUP_SYSTEM_TYPE;
webim.IMAGE_TYPE = IMAGE_TYPE;
webim.CONNECTION_STATUS = CONNECTION_STATUS;
webim.TLS_ERROR_CODE = TLS_ERROR_CODE;
webim.BROWSER_INFO = { type: 'miniprogram', ver: '1' };
webim.Emotions = webim.EmotionPicData = {};
webim.EmotionDataIndexs = webim.EmotionPicDataIndex = {};
webim.Tool = tool;
webim.Log = log;
webim.Msg = Msg;
webim.Session = Session;
/** Where this file signs in, when config.js is not where it looks (set before login). */
webim.rtcroomServer = '';
webim.rtcroomLimits = LIMITS;

module.exports = webim;
