'use strict';
// Runs the real, unmodified 2018 room libraries against a running rtcroom server, with this
// folder's webim_wx.js in place of Tencent's IM SDK file: the check a customer's switch
// amounts to. The 2018 client is not part of this repository (it is Tencent's code): point
// this at a checkout of github.com/TencentVideoCloudMLVBDev/MiniProgram.
//
//   node --experimental-websocket clients/miniprogram/check-2018-client.js \
//       PATH/TO/MiniProgram/wxlite http://127.0.0.1:5757
//
// (scripts/check-2018-client.sh starts a local gateway and runs this.) Each phone loads
// utils/rtcroom.js or utils/liveroom.js with their own webim_handler.js, tls.js, report.js...
// in a context of its own, as separate phones would, and the checks print as they pass.

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const assert = require('node:assert/strict');
const { Phone } = require('./test/fake-wx');

const [wxlite, server] = process.argv.slice(2);
if (!wxlite || !server || !fs.existsSync(path.join(wxlite, 'utils', 'rtcroom.js'))) {
  console.error('usage: check-2018-client.js PATH/TO/MiniProgram/wxlite SERVER_URL');
  process.exit(2);
}
const OURS = path.join(__dirname, 'webim_wx.js');
const run = Math.random().toString(36).slice(2, 7);

/** A phone running the 2018 files: `require` resolves inside wxlite, webim_wx.js is ours. */
function load2018(phone) {
  const cache = new Map();
  const sandbox = {
    wx: Object.assign(phone.wx, {
      getUserInfo: (o) => o && o.fail && o.fail({ errMsg: 'getUserInfo:fail' }),
      getSystemInfoSync: () => ({ model: 'node', system: 'node', version: '6.6.3', SDKVersion: '2.3.0', platform: 'devtools' }),
      login: (o) => o.success({ code: 'node' }),
    }),
    console: { log() {}, info() {}, debug() {}, warn() {}, error() {} },
    setTimeout: (fn, ms) => phone.setTimeout(fn, ms),
    clearTimeout: (t) => phone.clearTimeout(t),
    setInterval: (fn, ms) => phone.setInterval(fn, ms),
    clearInterval: (t) => phone.clearInterval(t),
  };
  sandbox.global = sandbox;
  vm.createContext(sandbox);
  const config = { serverUrl: server, roomServiceUrl: server };
  function requireFrom(dir) {
    return (name) => {
      const file = path.resolve(dir, name.endsWith('.js') ? name : name + '.js');
      if (file === path.join(wxlite, 'config.js')) return config;
      const source = path.basename(file) === 'webim_wx.js' ? OURS : file;
      if (cache.has(file)) return cache.get(file).exports;
      const module = { exports: {} };
      cache.set(file, module);
      const code = '(function (module, exports, require) {' + fs.readFileSync(source, 'utf8') + '\n})';
      vm.runInContext(code, sandbox, { filename: source })(module, module.exports, requireFrom(path.dirname(file)));
      return module.exports;
    };
  }
  return requireFrom(path.join(wxlite, 'utils'));
}

function get(phone, url) {
  return new Promise((resolve, reject) => phone.wx.request({
    url, method: 'GET', success: (r) => resolve(r.data), fail: (e) => reject(new Error(e.errMsg)),
  }));
}

/** A signed-in phone with one 2018 library: getlogininfo.js, then lib.login. */
async function signIn(name, type) {
  const phone = new Phone(name);
  const req = load2018(phone);
  const lib = req(type === 'live_room' ? './liveroom.js' : './rtcroom.js');
  const userID = 'real' + run + '_' + name;
  const info = await get(phone, server + '/weapp/utils/get_login_info?userID=' + userID);
  assert.equal(info.code, 0, JSON.stringify(info));
  const seen = { joins: [], quits: [], closed: 0, texts: [], requests: [], kicked: 0 };
  await new Promise((resolve, reject) => lib.login({
    data: Object.assign({}, info, { serverDomain: server + '/weapp/' + type + '/', userName: name }),
    success: resolve,
    fail: (e) => reject(new Error(name + ' login: ' + JSON.stringify(e))),
  }));
  lib.setListener({
    onPusherJoin: (r) => seen.joins.push(...r.pushers.map((p) => p.userID)),
    onPusherQuit: (r) => seen.quits.push(...r.pushers.map((p) => p.userID)),
    onRoomClose: () => { seen.closed += 1; },
    onRecvRoomTextMsg: (m) => seen.texts.push(m),
    onRecvJoinPusherRequest: (r) => seen.requests.push(r),
    onKickOut: () => { seen.kicked += 1; },
  });
  return { phone, lib, userID, seen, name };
}

const call = (fn, data) => new Promise((resolve, reject) => fn({ data, success: resolve, fail: (e) => reject(new Error(JSON.stringify(e))) }));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, cond, ms = 15000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out: ' + what);
    await sleep(50);
  }
  console.log('  ok  ' + what);
}

async function multiRoom() {
  console.log('rtcroom.js (multi_room)');
  const alice = await signIn('alice', 'multi_room');
  const bob = await signIn('bob', 'multi_room');
  console.log('  ok  both logged in (room service and IM)');
  const { roomID } = await call(alice.lib.createRoom, { roomInfo: 'real 2018 check' });
  const push = async (p) => (await call(p.lib.getPushURL, { roomID })).pushURL;
  await call(alice.lib.enterRoom, { roomID, pushURL: await push(alice), roomInfo: 'real 2018 check' });
  await call(bob.lib.enterRoom, { roomID, pushURL: await push(bob), roomInfo: 'real 2018 check' });
  await until('alice hears bob join (onPusherJoin)', () => alice.seen.joins.includes(bob.userID));
  await until('bob lists alice (onPusherJoin)', () => bob.seen.joins.includes(alice.userID));
  await call(alice.lib.sendRoomTextMsg, { msg: 'hello from alice' });
  await until('bob gets alice\'s chat (onRecvRoomTextMsg)', () => bob.seen.texts.some((t) => t.textMsg === 'hello from alice' && t.userID === alice.userID));
  await call(bob.lib.sendRoomTextMsg, { msg: 'hi alice' });
  await until('alice gets bob\'s chat', () => alice.seen.texts.some((t) => t.textMsg === 'hi alice'));
  await sleep(1000);
  assert.deepEqual(alice.seen.joins, [bob.userID], 'each join once');
  assert.deepEqual(bob.seen.joins, [alice.userID], 'each join once');
  console.log('  ok  each join heard once');
  const left = await new Promise((resolve) => bob.lib.exitRoom({ success: () => resolve(0), fail: (e) => resolve(e) }));
  assert.equal(left, 0, 'exitRoom: ' + JSON.stringify(left));
  await until('alice hears bob leave (onPusherQuit)', () => alice.seen.quits.includes(bob.userID));
  alice.lib.exitRoom({});
  for (const p of [alice, bob]) { p.lib.logout(); p.phone.kill(); }
}

async function liveRoom() {
  console.log('liveroom.js (live_room)');
  const anchor = await signIn('anchor', 'live_room');
  const guest = await signIn('guest', 'live_room');
  const viewer = await signIn('viewer', 'live_room');
  console.log('  ok  all logged in');
  const anchorPush = (await call(anchor.lib.getPushURL, {})).pushURL;
  const { roomID } = await call(anchor.lib.createRoom, { roomInfo: 'real live check', pushURL: anchorPush });
  console.log('  ok  the anchor created the room (create_room, IM group, add_pusher)');
  const entered = await call(guest.lib.enterRoom, { roomID });
  assert.equal(entered.roomCreator, anchor.userID);
  await call(viewer.lib.enterRoom, { roomID });
  console.log('  ok  a guest and a viewer entered (IM group before get_pushers and add_audience)');
  const accepted = call(guest.lib.requestJoinPusher, { timeout: 15000 });
  await until('the anchor gets the link-mic request (onRecvJoinPusherRequest)', () => anchor.seen.requests.some((r) => r.userID === guest.userID));
  anchor.lib.acceptJoinPusher({ data: { userID: guest.userID } });
  await accepted;
  console.log('  ok  the guest hears the acceptance');
  const guestPush = (await call(guest.lib.getPushURL, {})).pushURL;
  await call(guest.lib.joinPusher, { roomID, pushURL: guestPush });
  await until('the anchor hears the guest join (onPusherJoin)', () => anchor.seen.joins.includes(guest.userID));
  await call(anchor.lib.sendRoomTextMsg, { msg: 'welcome' });
  await until('the viewer gets the anchor\'s chat', () => viewer.seen.texts.some((t) => t.message === 'welcome'));
  await new Promise((resolve, reject) => anchor.lib.kickoutSubPusher({ data: { userID: guest.userID }, success: resolve, fail: (e) => reject(new Error(JSON.stringify(e))) }));
  console.log('  ok  kickoutSubPusher succeeds (the component checks errCode 0)');
  await until('the guest is told (onKickOut)', () => guest.seen.kicked === 1);
  const quit = await new Promise((resolve) => guest.lib.quitPusher({ success: () => resolve(0), fail: (e) => resolve(e) }));
  assert.equal(quit, 0, 'quitPusher after the kick: ' + JSON.stringify(quit));
  console.log('  ok  quitPusher after the kick succeeds (no "quitPusher 返回错误")');
  await until('the anchor hears the guest go (onPusherQuit)', () => anchor.seen.quits.includes(guest.userID));
  await call(anchor.lib.sendRoomTextMsg, { msg: 'still watching?' });
  await until('the kicked guest still hears the room', () => guest.seen.texts.some((t) => t.message === 'still watching?'));
  anchor.lib.exitRoom({});
  await until('the viewer hears the room close (onRoomClose)', () => viewer.seen.closed === 1);
  await until('the guest hears the room close', () => guest.seen.closed === 1);
  for (const p of [anchor, guest, viewer]) { p.lib.logout(); p.phone.kill(); }
}

(async () => {
  await multiRoom();
  await liveRoom();
  console.log('the unmodified 2018 room libraries work against ' + server + ' with rtcroom\'s webim_wx.js');
  process.exit(0);
})().catch((e) => {
  console.error('FAILED: ' + (e.stack || e));
  process.exit(1);
});
