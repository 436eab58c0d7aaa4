/**
 * The reason a request's upstream work is aborted when its client hangs up. Status 499 (nginx's
 * "client closed request") keeps it out of the 5xx error log: nobody is left to receive an answer,
 * and nothing failed on our side.
 */
export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError'
  readonly statusCode = 499
  readonly code = 'GW_CLIENT_CLOSED'

  constructor() {
    super('the client closed the connection before the answer was complete')
  }
}
