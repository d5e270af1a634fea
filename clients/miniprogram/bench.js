'use strict';
// What the drop-in IM file costs a 2018 mini-program, measured against the plain room
// connection in the same run: one live room, an anchor chatting through the IM file at a
// fixed rate, half the viewers hearing it through webim_wx.js (a session connection joined
// by roomID, each message turned back into an IM message for onBigGroupMsgNotify), half
// through a room connection (/ws?roomType=&roomID=, the JSON as it arrives). Prints the IM
// login and group join times, and the delivery latency (send to listener) of both paths.
//
//   node --experimental-websocket clients/miniprogram/bench.js SERVER [viewers=100] [messages=200] [rate=20]
// (scripts/bench-miniprogram.sh starts a release gateway pinned to one core and runs this.)

const { Client2018, until } = require('./test/client2018');

const [server, viewersArg, messagesArg, rateArg] = process.argv.slice(2);
if (!server) {
  console.error('usage: bench.js SERVER [viewers] [messages] [rate]');
  process.exit(2);
}
const viewers = Number(viewersArg || 100);
const messages = Number(messagesArg || 200);
const rate = Number(rateArg || 20);

function stats(values) {
  const v = [...values].sort((a, b) => a - b);
  const at = (q) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
  return { n: v.length, p50: at(0.5), p99: at(0.99), max: v[v.length - 1] };
}

const ms = (x) => x.toFixed(1) + ' ms';

async function rawViewer(room, i) {
  const p = new Client2018({ server, userID: Client2018.userID('raw' + i), type: 'live_room' });
  const info = await p.get('/weapp/utils/get_login_info?userID=' + p.userID);
  const login = await p.call('login', {}, { accountType: info.accType, sdkAppID: info.sdkAppID, userSig: info.userSig });
  p.token = login.token;
  p.roomID = room;
  await p.callOk('add_audience', { userID: p.userID, roomID: room, userInfo: '{}' });
  const url = server.replace(/^http/, 'ws') + '/ws?userID=' + p.userID + '&token=' + p.token +
    '&roomType=live_room&roomID=' + room;
  const ws = new WebSocket(url);
  const latencies = [];
  ws.addEventListener('message', (e) => {
    const event = JSON.parse(e.data);
    if (event.type !== 'CustomTextMsg') return;
    const sent = Number(/^t=(\d+(\.\d+)?)/.exec(event.data.msg)[1]);
    latencies.push(performance.timeOrigin + performance.now() - sent);
  });
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve);
    ws.addEventListener('error', reject);
  });
  return { latencies, close: () => ws.close(), phone: p };
}

async function imViewer(room, i, timings) {
  const p = new Client2018({ server, userID: Client2018.userID('im' + i), type: 'live_room' });
  const started = performance.now();
  await p.login();
  const loggedIn = performance.now();
  await p.enterLiveRoom(room, { sketchpad: false });
  timings.login.push(loggedIn - started);
  timings.enter.push(performance.now() - loggedIn);
  p.latencies = [];
  const receive = p.receiveGroupMsg.bind(p);
  p.receiveGroupMsg = (msg) => {
    receive(msg);
    const text = p.chats[p.chats.length - 1].text;
    p.latencies.push(performance.timeOrigin + performance.now() - Number(/^t=(\d+(\.\d+)?)/.exec(text)[1]));
  };
  return p;
}

(async () => {
  const anchor = new Client2018({ server, userID: Client2018.userID('anchor'), type: 'live_room' });
  await anchor.login();
  const room = await anchor.createLiveRoom('bench');
  const timings = { login: [], enter: [] };
  const im = [];
  const raw = [];
  for (let i = 0; i < viewers / 2; i++) {
    im.push(await imViewer(room, i, timings));
    raw.push(await rawViewer(room, i));
  }
  console.log(`server ${server}; ${viewers} viewers (${im.length} through webim_wx.js, ${raw.length} on room connections); ` +
    `${messages} messages at ${rate}/s from the anchor's IM file`);
  const login = stats(timings.login);
  const enter = stats(timings.enter);
  console.log(`IM login (utils/login + socket open): p50 ${ms(login.p50)}, p99 ${ms(login.p99)}`);
  console.log(`enter a live room (group join, get_pushers, add_audience): p50 ${ms(enter.p50)}, p99 ${ms(enter.p99)}`);
  for (let i = 0; i < messages; i++) {
    anchor.sendRoomTextMsg('t=' + (performance.timeOrigin + performance.now())).catch(() => {});
    await new Promise((r) => setTimeout(r, 1000 / rate));
  }
  const expected = messages;
  await until('every delivery', () =>
    im.every((p) => p.latencies.length >= expected) && raw.every((p) => p.latencies.length >= expected), 60000)
    .catch(() => {});
  console.log('| path | deliveries | delivered | p50 | p99 | max |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name, list] of [['webim_wx.js (session connection)', im.map((p) => p.latencies)],
    ['room connection (/ws)', raw.map((p) => p.latencies)]]) {
    const all = list.flat();
    const s = stats(all);
    const share = (100 * all.length) / (expected * list.length);
    console.log(`| ${name} | ${all.length} | ${share.toFixed(1)} % | ${ms(s.p50)} | ${ms(s.p99)} | ${ms(s.max)} |`);
  }
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
