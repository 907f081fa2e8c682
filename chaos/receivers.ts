/** Receivers that misbehave on purpose, each on its own loopback port. */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import net from 'node:net';

export interface Misbehaving {
  url: string;
  close(): Promise<void>;
}

async function listen(server: net.Server | HttpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

const closer = (server: net.Server | HttpServer, sockets: Set<net.Socket>) => () =>
  new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  });

function track(server: net.Server | HttpServer): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return sockets;
}

async function http(handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<Misbehaving> {
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req, res));
  });
  const sockets = track(server);
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/hook`, close: closer(server, sockets) };
}

async function raw(onConnection: (socket: net.Socket) => void): Promise<Misbehaving> {
  const server = net.createServer(onConnection);
  const sockets = track(server);
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/hook`, close: closer(server, sockets) };
}

/** Answers once the request has been read, so that the exchange looks like a real HTTP one. */
const afterRequest = (socket: net.Socket, then: () => void) => {
  let seen = '';
  socket.on('data', (chunk) => {
    seen += chunk.toString('latin1');
    if (seen.includes('\r\n\r\n')) then();
  });
  socket.on('error', () => undefined);
};

export const misbehaving = {
  status500: () => http((_req, res) => res.writeHead(500).end('internal error')),
  hang: () => http(() => undefined),
  reset: () => raw((socket) => afterRequest(socket, () => socket.resetAndDestroy())),
  /** Headers at once, then one byte of body a second for ever. */
  trickle: () =>
    http((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('.'), 1000);
      res.on('close', () => clearInterval(timer));
    }),
  /** 50 MB of body, written as fast as the client reads it. */
  hugeBody: () =>
    http((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(50 * 1024 * 1024) });
      const chunk = Buffer.alloc(64 * 1024, 120);
      let sent = 0;
      const pump = () => {
        while (sent < 50 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('error', () => undefined);
      pump();
    }),
  invalidHttp: () => raw((socket) => afterRequest(socket, () => socket.end('HTTP/1.1 2OO NOT-A-STATUS\r\n\r\nrubbish'))),
  slowOk: (delayMs: number) => http((_req, res) => void setTimeout(() => res.writeHead(202).end('accepted, eventually'), delayMs)),
};
