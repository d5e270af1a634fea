'use strict';
// What the test run was given: the server under test and how it is configured. The Rust
// harness (functions/tests/miniprogram.rs) starts a gateway and sets these.

const crypto = require('node:crypto');
const zlib = require('node:zlib');

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(name + ' is not set: run these tests through `cargo test --test miniprogram`');
  return value;
}

const env = {
  server: required('RTCROOM_TEST_SERVER'),
  sdkAppID: Number(required('RTCROOM_TEST_SDKAPPID')),
  usersigKey: required('RTCROOM_TEST_USERSIG_KEY'),
  heartbeatTimeoutMs: Number(required('RTCROOM_TEST_HEARTBEAT_TIMEOUT_MS')),
  joinWaitMs: Number(required('RTCROOM_TEST_JOIN_WAIT_MS')),
  /** "local" (the gateway's /ws) or "cloud" (the WebSocket API handlers and the notifier). */
  events: process.env.RTCROOM_TEST_EVENTS || 'local',
  /** The server's store: "embedded" or "dynamodb". */
  store: process.env.RTCROOM_TEST_STORE || 'embedded',
};

/** A TLSSigAPIv2 UserSig (spec/usersig.md), to test forged and expired ones. */
function usersig(userID, { time = Math.floor(Date.now() / 1000), expire = 86400, key = env.usersigKey } = {}) {
  const content = 'TLS.identifier:' + userID + '\nTLS.sdkappid:' + env.sdkAppID + '\nTLS.time:' + time +
    '\nTLS.expire:' + expire + '\n';
  const sig = crypto.createHmac('sha256', key).update(content).digest('base64');
  const doc = JSON.stringify({
    'TLS.ver': '2.0', 'TLS.identifier': userID, 'TLS.sdkappid': env.sdkAppID,
    'TLS.expire': expire, 'TLS.time': time, 'TLS.sig': sig,
  });
  return zlib.deflateSync(Buffer.from(doc)).toString('base64')
    .replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
}

module.exports = { env, usersig };
