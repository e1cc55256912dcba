import type { Env } from "../config/env.js";

/** The seed's examples name this tenant; it was IMAGES_CACHE_TENANT's default before VIMOND_TENANT. */
export const DEFAULT_VIMOND_TENANT = "vimond";

/**
 * The tenant each Vimond upstream is told. Seed 002 sends `X-Vimond-Tenant` in every Status API
 * example, so the Status tenant always has a value: its own variable, else the platform's
 * `VIMOND_TENANT`, else the image cache's tenant (the one tenant older configurations named), else
 * the seed's `vimond`. Old variable names keep working and win over the shared one.
 */
export function vimondTenants(env: Env): { status: string; imageCache: string } {
  return {
    status: env.STATUS_TENANT ?? env.VIMOND_TENANT ?? env.IMAGES_CACHE_TENANT ?? DEFAULT_VIMOND_TENANT,
    imageCache: env.IMAGES_CACHE_TENANT ?? env.VIMOND_TENANT ?? DEFAULT_VIMOND_TENANT,
  };
}
