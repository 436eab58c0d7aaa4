import createError from '@fastify/error'

/**
 * CX will not let us in: the token endpoint failed or refused us, or CX refused a fresh token. Unlike a
 * failed message this concerns every message of the run, so the run stops (status failed, cursor kept).
 */
export const CxAuthError = createError('GW_ERR_CX_AUTH', 'CX authentication failed: %s', 503)
