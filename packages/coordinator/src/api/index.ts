export { createApiRouter, sendError, type ApiDeps } from './router.js';
export { openApiDocument, openApiPath } from './openapi.js';
export * from './schemas.js';
export { setPageHeaders } from './paging.js';
export * from './access/index.js';
