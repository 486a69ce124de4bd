/**
 * Structured diagnostics: what runv is doing, for whom. Silent unless asked for (--debug), so a
 * command's stderr stays one line on failure.
 */
export const Logger = Symbol.for('runv.Logger');

export interface Logger {
  debug(subsystem: string, message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { debug: () => undefined };
