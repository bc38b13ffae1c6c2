// verify-dsse.js - an outside verifier for `scratchproof export --intoto` (SPEC.md 16),
// run by tests/cli/intoto.sh: sigstore-js (@sigstore/verify) checks the DSSE envelope
// as a Sigstore bundle v0.3 with a public key as trust material and no transparency
// log or timestamp authority, then the in-toto Statement's subjects are compared
// with the files. No scratchproof code is used.
// usage: node verify-dsse.js ENVELOPE.json KEY.pub [FILE...]   exit 0 verified, 1 not
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

function fail(msg) {
  console.log('NOT VERIFIED: ' + msg);
  process.exit(1);
}

const [envPath, pubPath, ...files] = process.argv.slice(2);
let env;
try {
  env = JSON.parse(fs.readFileSync(envPath, 'utf8'));
} catch (e) {
  fail('envelope is not JSON: ' + e.message);
}
// A scratchproof public key file: "scratchproof-ed25519-public-v1 " base64(32 bytes).
const pubLine = fs.readFileSync(pubPath, 'utf8').trim().split(' ');
const raw = Buffer.from(pubLine[1], 'base64');
if (pubLine[0] !== 'scratchproof-ed25519-public-v1' || raw.length !== 32) fail('bad public key file');
const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
const publicKey = crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });

const hint = env.signatures && env.signatures[0] && env.signatures[0].keyid;
let signed;
try {
  const bundle = bundleFromJSON({
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: {
      publicKey: { hint },
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    dsseEnvelope: env,
  });
  signed = toSignedEntity(bundle);
} catch (e) {
  fail('not a DSSE bundle: ' + e.message);
}
const trust = toTrustMaterial(
  { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] },
  (h) => {
    if (h !== hint) throw new Error('unknown key ' + h);
    return { publicKey, validFor: () => true };
  }
);
try {
  new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0, timestampThreshold: 0 }).verify(signed);
} catch (e) {
  fail('sigstore: ' + (e.code || '') + ' ' + e.message);
}
if (env.payloadType !== 'application/vnd.in-toto+json') fail('payloadType ' + env.payloadType);
const st = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
if (st._type !== 'https://in-toto.io/Statement/v1') fail('not an in-toto Statement v1');
for (const f of files) {
  const data = fs.readFileSync(f);
  const sha = crypto.createHash('sha256').update(data).digest('hex');
  const b2 = crypto.createHash('blake2b512').update(data).digest('hex');
  const name = f.split('/').pop();
  const s = st.subject.find((x) => x.name === name);
  if (!s) fail('no subject named ' + name);
  if (s.digest.sha256 !== sha || s.digest.blake2b !== b2) fail('digest of ' + name + ' differs');
}
console.log('VERIFIED: sigstore-js checked the DSSE signature; ' + st.subject.length +
            ' subject(s), predicate ' + st.predicateType);
