import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';

/**
 * A real SMTP server in the test process that keeps every mail it accepts. It can be stopped and
 * started again on the same port, to play a mail server that is down for a while.
 */
export async function startSmtpServer(port = 0) {
  const mails: ParsedMail[] = [];
  let server: SMTPServer | null = null;

  const listen = (on: number) =>
    new Promise<number>((resolve, reject) => {
      server = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS', 'AUTH'],
        logger: false,
        onData(stream, _session, callback) {
          simpleParser(stream)
            .then((mail) => {
              mails.push(mail);
              callback();
            })
            .catch(callback);
        },
      });
      server.once('error', reject);
      server.listen(on, '127.0.0.1', () => resolve((server!.server.address() as AddressInfo).port));
    });

  const boundPort = await listen(port);
  return {
    url: `smtp://127.0.0.1:${boundPort}`,
    mails,
    async stop() {
      const current = server;
      server = null;
      if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
    },
    async restart() {
      await listen(boundPort);
    },
  };
}

export type SmtpCapture = Awaited<ReturnType<typeof startSmtpServer>>;
