import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface TestPki {
  dir: string;
  caCert: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string };
  /** Paths of the same files, as TEMPORAL_TLS_*_PATH take them. */
  paths: { caCert: string; clientCert: string; clientKey: string };
}

/** A throw-away CA, a server certificate for localhost / 127.0.0.1 and a client certificate, made by the openssl CLI. */
export function generatePki(): TestPki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hookflow-pki-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=Hookflow test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  const leaf = (name: string, cn: string, extensions: string) => {
    writeFileSync(file(`${name}.ext`), `${extensions}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n`);
    openssl('req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
    );
  };
  leaf('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth');
  leaf('client', 'hookflow-worker', 'extendedKeyUsage=clientAuth');
  const read = (name: string) => readFileSync(file(name), 'utf8');
  return {
    dir,
    caCert: read('ca.pem'),
    server: { cert: read('server.pem'), key: read('server.key') },
    client: { cert: read('client.pem'), key: read('client.key') },
    paths: { caCert: file('ca.pem'), clientCert: file('client.pem'), clientKey: file('client.key') },
  };
}

/**
 * A TLS-terminating proxy on 127.0.0.1 in front of a plaintext server: gRPC over HTTP/2 is piped at the
 * TCP level once TLS is off. With `requireClientCert` it demands a certificate signed by the CA.
 */
export async function startTlsProxy(args: { pki: TestPki; target: number; requireClientCert: boolean }) {
  const sockets = new Set<net.Socket>();
  const peers: string[] = [];
  const refused: string[] = [];
  const server = tls.createServer(
    {
      cert: args.pki.server.cert,
      key: args.pki.server.key,
      ca: args.pki.caCert,
      requestCert: args.requireClientCert,
      rejectUnauthorized: args.requireClientCert,
      ALPNProtocols: ['h2'],
    },
    (secure) => {
      const subject = secure.getPeerCertificate()?.subject?.CN;
      peers.push(subject === undefined ? '(no client certificate)' : String(subject));
      const upstream = net.connect({ host: '127.0.0.1', port: args.target });
      for (const s of [secure, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      secure.pipe(upstream).pipe(secure);
    },
  );
  server.on('tlsClientError', (error) => refused.push(error.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** The CN of each client certificate that got through. */
    peers,
    /** Why handshakes were refused. */
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
