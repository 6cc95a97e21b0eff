// Auth / Grant: the server's JWT rules for other front doors (the Socket.io bridge); the same rules and
// codes as Python's dashfeed.Auth (tests/python/test_auth.py).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Auth } = require('../../index.js');

const SECRET = 'auth-test-secret';
function jwt(claims, { secret = SECRET, alg = 'HS256' } = {}) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  const h = alg === 'HS512' ? 'sha512' : 'sha256';
  return `${body}.${crypto.createHmac(h, secret).update(body).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);

test('verify gives the grant: subject, patterns, expiry', () => {
  const auth = new Auth({ secret: SECRET });
  const exp = now() + 600;
  const g = auth.verify(jwt({ exp, sub: 'ann', dashboards: ['team-*', 'ops'] }));
  assert.deepEqual([g.subject, g.dashboards, g.expiresAt], ['ann', ['team-*', 'ops'], exp * 1000]);
  assert.deepEqual(['team-a', 'ops', 'billing'].map((d) => g.allows(d)), [true, true, false]);
  assert.ok(g.remainingMs > 590000 && g.remainingMs <= 600000);
  const all = auth.verify(jwt({ exp }));
  assert.equal(all.dashboards, null);
  assert.equal(all.allows('anything'), true);
});

test('refused tokens and bad settings throw invalid_input', () => {
  const auth = new Auth({ secret: SECRET });
  for (const bad of ['not.a.jwt', jwt({ exp: now() - 60 }), jwt({ sub: 'no-exp' }), jwt({ exp: now() + 60 }, { secret: 'other' }),
    jwt({ exp: now() + 60 }, { alg: 'HS512' })]) {
    assert.throws(() => auth.verify(bad), (e) => e.code === 'invalid_input' && /token refused/.test(e.message));
  }
  for (const opts of [{}, { secret: '' }, { publicKey: 'not a pem' }]) {
    assert.throws(() => new Auth(opts), (e) => e.code === 'invalid_input');
  }
});
