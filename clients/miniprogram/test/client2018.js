'use strict';
// A 2018 mini-program, as far as the IM file sees it: our own code, written to follow the
// call sequences of the 2018 room libraries (rtcroom.js for double/multi rooms, liveroom.js
// and its live-room component for live rooms, webim_handler.js between them and the IM SDK)
// in the public repository TencentVideoCloudMLVBDev/MiniProgram. It drives webim_wx.js exactly
// through the IM calls those libraries make, parses what it hands back the way they do, and
// records what a page would show: who joined and left (the pusher-list diff after each
// notifyPusherChange), chat, link-mic, and the room closing.

const { Phone, loadWebim } = require('./fake-wx');

let counter = 0;
const RUN = process.pid.toString(36) + Math.random().toString(36).slice(2, 6);

class Client2018 {
  /**
   * @param {object} o  server (room service base URL), userID, type (double_room,
   *   multi_room, live_room), heartbeat ([first, every] ms; the 2018 clients beat 3 s after
   *   joining, then every 7 s)
   */
  constructor(o) {
    this.server = o.server;
    this.type = o.type;
    this.userID = o.userID;
    this.userName = o.userName || o.userID + ' name';
    this.userAvatar = o.userAvatar || 'https://avatars.example/' + o.userID + '.png';
    this.heartbeat = o.heartbeat || [3000, 7000];
    this.phone = new Phone(o.userID);
    this.webim = loadWebim(this.phone, { serverUrl: o.server, roomServiceUrl: o.server });
    if (o.limits) Object.assign(this.webim.rtcroomLimits, o.limits);
    this.token = '';
    this.roomID = '';
    this.roomCreator = '';
    this.pushers = [];
    this.hasJoinPusher = false;
    this.destroyed = false;
    this.beating = false;
    // What the page saw.
    this.joined = []; // userIDs, one entry per onPusherJoin arrival
    this.quit = [];
    this.closed = 0;
    this.notifies = 0;
    this.chats = []; // {from, nickName, headPic, text}
    this.c2c = []; // {from, cmd, data}
    this.kickedOut = 0;
    this.joinRequests = [];
    this.codes = []; // {api, code}
    this.conn = [];
    this.requestJoinCallback = null;
  }

  /** Makes a fresh user of the run. */
  static userID(tag) {
    counter += 1;
    return 'mp' + RUN + '_' + tag + '_' + counter;
  }

  // ---- HTTP, as the 2018 libraries call it -------------------------------------------

  get(path) {
    return new Promise((resolve, reject) => {
      this.phone.wx.request({
        url: this.server + path,
        method: 'GET',
        header: { 'content-type': 'application/json' },
        success: (ret) => resolve(ret.data),
        fail: (e) => reject(new Error(e.errMsg)),
      });
    });
  }

  /** POST {server}/weapp/{type}/{api}?[params&]userID=&token= with a JSON body; ret.data. */
  call(api, data, params) {
    let query = '';
    if (params) {
      query = Object.entries(params)
        .map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v))
        .join('&') + '&';
    }
    const url = this.server + '/weapp/' + this.type + '/' + api + '?' + query + 'userID=' + this.userID +
      (this.token ? '&token=' + this.token : '');
    return new Promise((resolve, reject) => {
      this.phone.wx.request({
        url,
        data: data || {},
        method: 'POST',
        header: { 'content-type': 'application/json' },
        success: (ret) => {
          this.codes.push({ api, code: ret.data && ret.data.code });
          resolve(ret.data);
        },
        fail: (e) => reject(new Error(api + ': ' + e.errMsg)),
      });
    });
  }

  async callOk(api, data, params) {
    const answer = await this.call(api, data, params);
    if (answer.code !== 0) throw new Error(api + ' answered ' + JSON.stringify(answer));
    return answer;
  }

  // ---- login: the room service, then IM --------------------------------------------------

  /** getlogininfo.js, then the room library's login (room service login, then IM login). */
  async login(usersig) {
    const info = await this.get('/weapp/utils/get_login_info?userID=' + encodeURIComponent(this.userID));
    if (info.code) throw new Error('get_login_info: ' + JSON.stringify(info));
    this.info = Object.assign({}, info, usersig ? { userSig: usersig } : {});
    const answer = await this.call('login', {}, {
      accountType: this.info.accType,
      sdkAppID: this.info.sdkAppID,
      userSig: this.info.userSig,
    });
    if (answer.code) throw new Error('login: ' + JSON.stringify(answer));
    this.token = answer.token;
    await this.loginIM();
  }

  /** webim_handler.sdkLogin: webim.login, then the nickname; fails like afterLoginIM. */
  loginIM() {
    const webim = this.webim;
    const loginInfo = {
      sdkAppID: this.info.sdkAppID,
      appIDAt3rd: this.info.sdkAppID,
      accountType: this.info.accType,
      identifier: this.userID,
      identifierNick: this.userID,
      userSig: this.info.userSig,
    };
    return new Promise((resolve, reject) => {
      webim.login(loginInfo, this.listeners(), { isAccessFormalEnv: true, isLogOn: false }, () => {
        webim.setProfilePortrait({ ProfileItem: [{ Tag: 'Tag_Profile_IM_Nick', Value: this.userID }] }, () => resolve(), (e) => reject(e));
      }, (err) => {
        const e = new Error('IM login failed: ' + err.ErrorInfo);
        e.im = err;
        reject(e);
      });
    });
  }

  listeners() {
    return {
      onConnNotify: (resp) => this.conn.push(resp.ErrorCode),
      onGroupSystemNotifys: {
        5: () => {
          this.destroyed = true;
          this.closed += 1;
        },
        11: () => {},
        255: (notify) => {
          const content = JSON.parse(notify.UserDefinedField);
          if (content && content.cmd === 'notifyPusherChange') {
            this.notifies += 1;
            if (!this.destroyed) this.mergePushers();
          }
        },
      },
      onBigGroupMsgNotify: (msgList) => {
        for (let i = msgList.length - 1; i >= 0; i--) this.receiveGroupMsg(msgList[i]);
      },
      onMsgNotify: (msgList) => {
        for (const msg of msgList) this.receiveC2C(msg);
      },
      onGroupInfoChangeNotify: () => {},
    };
  }

  /** The text a 2018 handler makes of a message: each element converted, then formatHtml2Text. */
  contentOf(msg) {
    const T = this.webim.MSG_ELEMENT_TYPE;
    let html = '';
    for (const elem of msg.getElems()) {
      const content = elem.getContent();
      switch (elem.getType()) {
        case T.TEXT: html += content.getText(); break;
        case T.FACE: html += content.getData(); break;
        case T.CUSTOM: html += content.getData(); break;
        default: break;
      }
    }
    return this.webim.Tool.formatHtml2Text(html);
  }

  /** rtcroom.js / liveroom.js receiveMsg: the custom JSON up to "}}", then the text. */
  receiveGroupMsg(msg) {
    if (msg.getSession().type() !== this.webim.SESSION_TYPE.GROUP) throw new Error('a group message in a C2C session');
    if (msg.getSubType() !== this.webim.GROUP_MSG_SUB_TYPE.COMMON) return;
    const content = this.contentOf(msg);
    const parts = content.split('}}');
    const custom = JSON.parse(parts[0] + '}}');
    const text = parts.slice(1).join('}}');
    this.chats.push({
      from: msg.getFromAccountNick(),
      cmd: custom.cmd,
      nickName: custom.data.nickName,
      headPic: custom.data.headPic,
      subCmd: custom.data.cmd,
      text,
      isSend: msg.getIsSend(),
    });
  }

  /** webim_handler.handlderMsg + liveroom.js recvC2CMsg. */
  receiveC2C(msg) {
    const webim = this.webim;
    if (msg.getSession().type() !== webim.SESSION_TYPE.C2C) return;
    if (msg.getSubType() !== webim.C2C_MSG_SUB_TYPE.COMMON) return;
    webim.c2CMsgReaded({ To_Account: msg.getFromAccount(), LastedMsgTime: msg.getTime() });
    const from = msg.getFromAccountNick() || msg.getFromAccount();
    const content = JSON.parse(this.contentOf(msg));
    this.c2c.push({ from, cmd: content.cmd, data: content.data });
    if (content.cmd !== 'linkmic') return;
    const data = content.data;
    if (data.type === 'request') {
      this.joinRequests.push({ userID: from, userName: data.userName, userAvatar: data.userAvatar });
    } else if (data.type === 'response') {
      if (this.requestJoinCallback) this.requestJoinCallback(data.result === 'accept' ? 0 : -999);
    } else if (data.type === 'kickout') {
      this.kickedOut += 1;
      // The live-room component's onKickOut for a guest: quit pushing, keep watching.
      this.quitPusher().catch(() => {});
    }
  }

  // ---- IM group and messages (webim_handler) -------------------------------------------

  applyJoinBigGroup(roomID) {
    return new Promise((resolve, reject) => {
      this.webim.applyJoinBigGroup({ GroupId: roomID }, (resp) => {
        if (resp.JoinedStatus && resp.JoinedStatus === 'JoinedSuccess') resolve();
        else reject(new Error('IM进群失败'));
      }, (err) => reject(new Error(err.ErrorInfo || 'IM进群失败')));
    });
  }

  quitBigGroup() {
    return new Promise((resolve) => {
      this.webim.quitBigGroup({ GroupId: this.roomID }, () => resolve(), () => resolve());
    });
  }

  newMsg(type, to) {
    const webim = this.webim;
    const session = new webim.Session(type, to, to, '', Math.round(Date.now() / 1000));
    const subType = type === webim.SESSION_TYPE.GROUP ? webim.GROUP_MSG_SUB_TYPE.COMMON : webim.C2C_MSG_SUB_TYPE.COMMON;
    return new webim.Msg(session, true, -1, Math.round(Math.random() * 4294967296), Math.round(Date.now() / 1000),
      this.userID, subType, this.userID);
  }

  sendMsg(msg) {
    return new Promise((resolve, reject) => {
      this.webim.sendMsg(msg, resolve, (err) => {
        const e = new Error('sendMsg failed: ' + err.ErrorInfo);
        e.im = err;
        reject(e);
      });
    });
  }

  /** sendRoomTextMsg: a custom element with the nickname and avatar, then the text. */
  sendRoomTextMsg(text) {
    const webim = this.webim;
    const msg = this.newMsg(webim.SESSION_TYPE.GROUP, this.roomID);
    msg.addCustom(new webim.Msg.Elem.Custom(
      '{"cmd":"CustomTextMsg","data":{"nickName":"' + this.userName + '","headPic":"' + this.userAvatar + '"}}', '', ''));
    // webim_handler splits "[xx]" emoticons into face elements when the SDK knows them.
    const parts = text.split(/(\[[^[\]]{1,3}\])/);
    for (const part of parts) {
      if (!part) continue;
      const index = webim.EmotionDataIndexs[part];
      if (/^\[[^[\]]{1,3}\]$/.test(part) && webim.Emotions[index]) msg.addFace(new webim.Msg.Elem.Face(index, part));
      else msg.addText(new webim.Msg.Elem.Text(part));
    }
    return this.sendMsg(msg);
  }

  /** sendC2CCustomMsg: one custom element {cmd, data} to one user. */
  sendC2C(to, body) {
    const webim = this.webim;
    const msg = this.newMsg(webim.SESSION_TYPE.C2C, to);
    msg.addCustom(new webim.Msg.Elem.Custom(JSON.stringify(body), '', ''));
    return this.sendMsg(msg).then(() => ({ errCode: 0 }), (e) => ({ errCode: -1, errMsg: e.message }));
  }

  // ---- Rooms --------------------------------------------------------------------------

  async pushURL() {
    const answer = await this.callOk('get_push_url', { userID: this.userID });
    return answer.pushURL;
  }

  async getPushers() {
    return this.call('get_pushers', { roomID: this.roomID });
  }

  /** The pusher-list diff the 2018 libraries make after every notifyPusherChange. */
  async mergePushers() {
    if (this.type === 'live_room' && !this.hasJoinPusher) return;
    const ret = await this.getPushers();
    if (ret.code) return;
    const now = ret.pushers.filter((p) => p.userID !== this.userID);
    const before = this.pushers.map((p) => p.userID);
    const after = now.map((p) => p.userID);
    for (const id of after) if (!before.includes(id)) this.joined.push(id);
    for (const id of before) if (!after.includes(id)) this.quit.push(id);
    this.pushers = now;
  }

  startHeartbeat() {
    this.beating = true;
    const beat = () => this.call('pusher_heartbeat', { roomID: this.roomID, userID: this.userID }).catch(() => {});
    this.phone.setTimeout(beat, this.heartbeat[0]);
    const again = () => {
      if (!this.beating) return;
      beat();
      this.phone.setTimeout(again, this.heartbeat[1]);
    };
    this.phone.setTimeout(again, this.heartbeat[1]);
  }

  // rtcroom.js (double_room / multi_room)

  async createRoom(roomInfo) {
    const answer = await this.callOk('create_room', { userID: this.userID, roomInfo });
    this.roomID = answer.roomID;
    this.roomCreator = this.userID;
    return answer.roomID;
  }

  /** enterRoom: add_pusher, heartbeats, the IM group, and the pusher list. */
  async enterRoom(roomID) {
    this.roomID = roomID;
    this.destroyed = false;
    const pushURL = await this.pushURL();
    await this.callOk('add_pusher', {
      roomID, roomInfo: '', userID: this.userID, userName: this.userName, userAvatar: this.userAvatar, pushURL,
    });
    this.startHeartbeat();
    const joined = this.applyJoinBigGroup(roomID);
    this.mergePushers();
    await joined;
  }

  async exitRoom() {
    this.beating = false;
    this.destroyed = true;
    const answer = await this.call('delete_pusher', { roomID: this.roomID, userID: this.userID });
    await this.quitBigGroup();
    return answer;
  }

  // liveroom.js and the live-room component (live_room)

  /** The anchor: create_room, the IM group, then add_pusher. */
  async createLiveRoom(roomInfo) {
    const pushURL = await this.pushURL();
    const answer = await this.callOk('create_room', { userID: this.userID, roomInfo });
    this.roomID = answer.roomID;
    this.roomCreator = this.userID;
    this.isCreator = true;
    this.destroyed = false;
    await this.applyJoinBigGroup(this.roomID);
    await this.joinPusher(pushURL);
    return this.roomID;
  }

  async joinPusher(pushURL) {
    await this.callOk('add_pusher', {
      roomID: this.roomID, userID: this.userID, userName: this.userName, userAvatar: this.userAvatar,
      pushURL: pushURL || (await this.pushURL()),
    });
    this.hasJoinPusher = true;
    this.mergePushers();
    this.startHeartbeat();
  }

  /** A viewer: the IM group first, then the pushers, then (after success) add_audience. */
  async enterLiveRoom(roomID, { sketchpad = true } = {}) {
    this.roomID = roomID;
    this.isCreator = false;
    this.destroyed = false;
    await this.applyJoinBigGroup(roomID);
    const ret = await this.getPushers();
    if (ret.code) throw new Error('get_pushers: ' + JSON.stringify(ret));
    this.roomCreator = ret.roomCreator;
    this.mixedPlayURL = ret.mixedPlayURL;
    // The component asks the anchor for the whiteboard right away, before add_audience.
    if (sketchpad) {
      this.sketchpadSent = this.sendC2C(this.roomCreator, {
        cmd: 'sketchpad',
        data: { userID: this.userID, userName: this.userName, userAvatar: this.userAvatar, msg: '{"type":"request", "action":"currentPPT"}' },
      });
    }
    await this.callOk('add_audience', {
      userID: this.userID, roomID, userInfo: JSON.stringify({ userName: this.userName, userAvatar: this.userAvatar }),
    });
  }

  requestJoinPusher(timeoutMs = 30000) {
    return new Promise((resolve, reject) => {
      const timer = this.phone.setTimeout(() => reject(new Error('申请加入连麦超时')), timeoutMs);
      this.requestJoinCallback = (errCode) => {
        this.phone.clearTimeout(timer);
        if (errCode) reject(new Error('rejected')); else resolve();
      };
      this.sendC2C(this.roomCreator, {
        cmd: 'linkmic',
        data: { type: 'request', roomID: this.roomID, userID: this.userID, userName: this.userName, userAvatar: this.userAvatar },
      }).then((ret) => { if (ret.errCode) reject(new Error(ret.errMsg)); });
    });
  }

  acceptJoinPusher(userID) {
    return this.sendC2C(userID, { cmd: 'linkmic', data: { type: 'response', result: 'accept', message: '', roomID: this.roomID } });
  }

  kickoutSubPusher(userID) {
    return this.sendC2C(userID, { cmd: 'linkmic', data: { type: 'kickout', roomID: this.roomID } });
  }

  /** The guest stops pushing (after a kickout, or by itself); the page shows an error unless 0. */
  async quitPusher() {
    this.beating = false;
    const answer = await this.call('delete_pusher', { roomID: this.roomID, userID: this.userID });
    this.quitPusherCode = answer.code;
    this.hasJoinPusher = false;
    this.pushers = [];
    return answer;
  }

  /** exitRoom: the anchor destroys the room, the others leave it. */
  async exitLiveRoom() {
    this.beating = false;
    await this.quitBigGroup();
    if (this.isCreator) {
      return this.call('destroy_room', { roomID: this.roomID, userID: this.userID });
    }
    const left = await this.call('delete_pusher', { roomID: this.roomID, userID: this.userID });
    await this.call('delete_audience', { userID: this.userID, roomID: this.roomID });
    return left;
  }

  /** The phone is switched off / drops off the network. */
  die() {
    this.beating = false;
    this.phone.kill();
  }

  logout() {
    this.die();
    this.webim.logout();
  }
}

/** Polls `cond` until it holds; fails with `what` after `ms`. */
async function until(what, cond, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (cond()) return;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = { Client2018, until, sleep };
