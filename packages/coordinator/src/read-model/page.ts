/** One page of a list: `limit` rows from `offset` (the API's `Link`/`X-Total-Count` headers need the total too). */
export interface Page {
  limit: number;
  offset: number;
}
