/**
 * The GUIDE's look-up of a call's couples: one row per couple whose external data `$2` (the key,
 * ELEVEO_DIALOG_KEY) equals `$1` (CX's dialogId). ELEVEO_LEGS_QUERY replaces it and must return the
 * same columns (COUPLE_COLUMNS).
 */
export const DEFAULT_CALLREC_LEGS_QUERY = `select c.sid, c.start_ts, c.stop_ts, c.finalcallednr as agent_extension, c.callingnr as ani
from callrec.couples c join callrec.couple_extdata x on x.cplid = c.id
where x.value = $1 and x.key = $2`
