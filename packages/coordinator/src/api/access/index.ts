export { sameToken, bearerOf, cookieOf, READ_COOKIE } from './tokens.js';
export { requireReadAccess, type ReadAccessOptions } from './read-access.js';
export { crossSiteGuard, hostGuard, requireStudyContentType } from './cross-site.js';
export { chooseBinding, isLoopbackHost, LOOPBACK_HOSTNAMES, type BindingChoice } from './binding.js';
