import { DEFAULT_TENANT } from '../store/ports.js';

/**
 * The tenant a request acts for. Until API keys arrive (issue 4) every request acts for
 * the default tenant; routes call this, never DEFAULT_TENANT, so auth plugs in here.
 */
export const tenantOf = (): string => DEFAULT_TENANT;
