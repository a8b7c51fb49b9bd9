/** The hub's structured logger (pino): object first, errors under `err`, secrets redacted. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/** Paths whose values never reach a log line, at any depth we log them. */
const REDACT = [
  'token',
  'password',
  'authorization',
  'secret',
  '*.token',
  '*.password',
  '*.authorization',
  '*.secret',
  '*.password_hash',
  '*.token_hash',
  'req.headers.authorization',
];

/** The root logger; modules take `log.child({ module })` from it. */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
