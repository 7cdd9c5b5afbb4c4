/**
 * Base of every error braintune raises on purpose. `hint` tells the user how to fix it;
 * the CLI and the HTTP layer print `message` and `hint` instead of a stack trace.
 */
export class BraintuneError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input from a user (a file, a flag, a request body) that cannot be used as given. */
export class InvalidInputError extends BraintuneError {
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, 'invalid_input', hint, options);
  }
}

export class NotFoundError extends BraintuneError {
  constructor(message: string, hint?: string) {
    super(message, 'not_found', hint);
  }
}
