// RFC 6238 codes for the tests, written from the RFC with Node's own HMAC: an implementation
// independent of tessera's, so a test that signs in with them checks tessera against the standard
// rather than against itself.
import crypto from 'node:crypto';

// RFC 4648 base32 (A-Z2-7), padding optional.
export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// The 6-digit HMAC-SHA-1 code of `secret` (bytes) for the 30-second step of `when` (ms), moved by
// `steps`.
export function totp(secret, { when = Date.now(), steps = 0 } = {}) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(when / 1000 / 30) + steps));
  const mac = crypto.createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}
