/**
 * The handshake of a control connection (S9.2): the node speaks first with
 * a random nonce; the client answers with its own nonce and an HMAC-SHA256
 * over both; the node answers with its HMAC over both (mutual). The two
 * proofs are labelled by role, so one can never be replayed as the other,
 * and each connection's node nonce is new, so a recorded answer is worth
 * nothing on another connection. Proofs are compared in constant time; the
 * secret itself never crosses the wire.
 *
 *   node → client   { hotcode: 'control', version: 1, nonce }
 *   client → node   { nonce, proof, client? }
 *   node → client   { welcome: proof, node: { name, pid, hotcode } }  or  { denied: true }
 *
 * (nonces and proofs are base64 of 32 bytes)
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

export const PROTOCOL_VERSION = 1;
export const NONCE_BYTES = 32;

export type Role = 'client' | 'node';

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** The proof that `role` knows the secret, for this pair of nonces. */
export function proofOf(
  secret: Buffer,
  role: Role,
  nodeNonce: Buffer,
  clientNonce: Buffer,
): Buffer {
  return createHmac('sha256', secret)
    .update(`hotcode-control/${PROTOCOL_VERSION} ${role}\n`)
    .update(nodeNonce)
    .update(clientNonce)
    .digest();
}

/** Is `given` the expected proof? Constant time over equal lengths. */
export function proofMatches(expected: Buffer, given: Buffer | undefined): boolean {
  return (
    given !== undefined && given.length === expected.length && timingSafeEqual(expected, given)
  );
}

/** Decodes a base64 field of exactly `bytes` bytes, or undefined. */
export function bytesOf(value: unknown, bytes = NONCE_BYTES): Buffer | undefined {
  if (typeof value !== 'string' || value.length > 4 * Math.ceil(bytes / 3)) return undefined;
  const b = Buffer.from(value, 'base64');
  return b.length === bytes && b.toString('base64') === value ? b : undefined;
}

/** The TLS 1.3 pre-shared key of a TCP listener, derived from the secret (never the secret itself). */
export function tlsPsk(secret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'hotcode', 'hotcode-control tls-psk', 32));
}

/** The PSK identity the client names (TLS 1.3 has no server hint). */
export const PSK_IDENTITY = 'hotcode';

/** TLS 1.3 cipher suites whose hash suits a 32-byte PSK. */
export const TLS_CIPHERS =
  'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384';
