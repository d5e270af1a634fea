'use strict';
// Two-person and small-group rooms (rtcroom.js) and the live room's end, as the 2018
// mini-programs use them, through webim_wx.js against a real gateway.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Client2018, until, sleep } = require('./client2018');
const { env } = require('./env');

const FAST = { pingEvery: 1000 };

function phone(tag, type) {
  return new Client2018({ server: env.server, userID: Client2018.userID(tag), type, limits: FAST });
}

async function signedIn(tag, type) {
  const p = phone(tag, type);
  await p.login();
  return p;
}

test('get_login_info answers a non-empty string accType, and the IM login accepts it', async (t) => {
  const alice = phone('acct', 'multi_room');
  t.after(() => alice.logout());
  await alice.login();
  assert.equal(typeof alice.info.accType, 'string');
  assert.notEqual(alice.info.accType, '');
  assert.notEqual(alice.info.accType, '0');
  assert.deepEqual(alice.conn, [alice.webim.CONNECTION_STATUS.ON]);
});

test('two members each see the other join, once', async (t) => {
  const alice = await signedIn('alice', 'multi_room');
  const bob = await signedIn('bob', 'multi_room');
  t.after(() => { alice.logout(); bob.logout(); });
  const room = await alice.createRoom('claim 1042');
  await alice.enterRoom(room);
  await bob.enterRoom(room);
  await until('alice hears bob join', () => alice.joined.includes(bob.userID));
  await until('bob lists alice', () => bob.joined.includes(alice.userID));
  // Nothing stale arrives later to fire the join callbacks again.
  await sleep(1500);
  assert.deepEqual(alice.joined, [bob.userID]);
  assert.deepEqual(bob.joined, [alice.userID]);
  assert.deepEqual(alice.quit, []);
  assert.deepEqual(bob.quit, []);
});

test('chat goes both ways with the 2018 payloads', async (t) => {
  const alice = await signedIn('chata', 'multi_room');
  const bob = await signedIn('chatb', 'multi_room');
  t.after(() => { alice.logout(); bob.logout(); });
  const room = await alice.createRoom('chat');
  await alice.enterRoom(room);
  await bob.enterRoom(room);
  await alice.sendRoomTextMsg('hello bob');
  const tricky = '你好 "alice" <b>&nbsp;[微笑] }} done';
  await bob.sendRoomTextMsg(tricky);
  await until('bob hears alice', () => bob.chats.some((c) => c.text === 'hello bob'));
  await until('alice hears bob', () => alice.chats.some((c) => c.from === bob.userID));
  const toBob = bob.chats.find((c) => c.text === 'hello bob');
  assert.equal(toBob.from, alice.userID);
  assert.equal(toBob.cmd, 'CustomTextMsg');
  assert.equal(toBob.nickName, alice.userName);
  assert.equal(toBob.headPic, alice.userAvatar);
  assert.equal(toBob.isSend, false);
  const toAlice = alice.chats.find((c) => c.from === bob.userID);
  // formatHtml2Text turns &nbsp; into a space, as the 2018 clients show it.
  assert.equal(toAlice.text, tricky.replace('&nbsp;', ' '));
  // A big group echoes the sender's own messages, as Tencent's AVChatRoom did.
  await until('alice hears her own message', () => alice.chats.some((c) => c.from === alice.userID));
  assert.equal(alice.chats.find((c) => c.from === alice.userID).isSend, true);
  await sleep(500);
  assert.equal(bob.chats.filter((c) => c.text === 'hello bob').length, 1, 'each message once');
});

test('a phone that dies is gone for the others after the heartbeat timeout', async (t) => {
  const alice = await signedIn('livea', 'multi_room');
  const bob = await signedIn('liveb', 'multi_room');
  t.after(() => { alice.logout(); bob.logout(); });
  const room = await alice.createRoom('dying');
  await alice.enterRoom(room);
  await bob.enterRoom(room);
  await until('alice lists bob', () => alice.joined.includes(bob.userID));
  const died = Date.now();
  bob.die();
  await until('alice hears bob go', () => alice.quit.includes(bob.userID), env.heartbeatTimeoutMs + 10000);
  const after = Date.now() - died;
  // Bob's last heartbeat was at most one interval (7 s) before he died.
  assert.ok(after >= env.heartbeatTimeoutMs - 7000 - 1000, 'not before the timeout: ' + after + ' ms');
  assert.deepEqual(alice.quit, [bob.userID]);
  assert.equal(alice.closed, 0, 'the room lives on with alice');
});

test('the live room closes for everyone when its creator exits (group dismissed)', async (t) => {
  const anchor = await signedIn('anchor', 'live_room');
  const viewers = [await signedIn('v1', 'live_room'), await signedIn('v2', 'live_room')];
  t.after(() => { anchor.logout(); viewers.forEach((v) => v.logout()); });
  const room = await anchor.createLiveRoom('show');
  for (const v of viewers) await v.enterLiveRoom(room, { sketchpad: false });
  await sleep(300);
  const destroyed = await anchor.exitLiveRoom();
  assert.equal(destroyed.code, 0);
  for (const v of viewers) await until(v.userID + ' hears the room close', () => v.closed === 1);
  assert.equal(anchor.closed, 0, 'the anchor left the group before destroying the room');
  await sleep(500);
  for (const v of viewers) assert.equal(v.closed, 1, 'once');
});
