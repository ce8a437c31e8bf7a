"""HTTP/REST JSON APIs: the `http` connector.

One request per page, with the standard library's `http.client` (keep-alive connections, proxies
from ``HTTP(S)_PROXY`` / ``NO_PROXY``, redirects followed by hand so credentials never leave the
configured origin). Each page's records become one `Batch` (or ``batch_size`` records per batch)
whose Arrow schema is the union of every column seen so far in the run: a column missing from a
page is null there, and a column whose JSON type changes is widened (int -> double, anything
mixed -> JSON text), so later batches never lose columns of earlier ones.

```yaml
sources:
  - name: gh
    connection: {url: "https://api.github.com", auth: {type: bearer, token_env: GITHUB_TOKEN}}
    tables:
      - name: issues
        extract:
          url: "https://api.github.com/repos/{owner}/{repo}/issues"
          params: {owner: duckdb, repo: duckdb, state: all, per_page: 100}
          pagination: {type: link_header}
          incremental: {cursor_field: updated_at, param: since, initial: "2024-01-01T00:00:00Z"}
          rate_limit: 5
```

Keys (the source's ``connection:`` merged with the table's ``extract:``):

- ``url`` (required): scheme, host and path; ``{name}`` is replaced by ``params[name]``
  (URL-quoted), which is then not sent as a query parameter.
- ``method``: ``GET`` (default) or ``POST``; ``body``: the JSON body of a POST.
- ``params``: query parameters (a list value repeats the parameter); ``headers``.
- ``records_path``: dotted path to the records (``data.items``, ``$.data[0].rows``); default: the
  response if it is a list, else its first list-valued key.
- ``pagination``: ``type`` one of
  ``none`` (default);
  ``page_number`` (``page_param`` = page, ``start`` = 1, ``size_param``, ``page_size``,
  ``total_path``: total number of *pages* as dlt; stops on an empty page);
  ``offset`` (``offset_param`` = offset, ``limit_param`` = limit, ``limit`` = 100, ``start`` = 0,
  ``total_path``: total number of *records*; the offset advances by the records received, so a
  server capping ``limit`` loses nothing; stops on an empty page);
  ``cursor`` (``cursor_path`` = next_cursor in the response, ``cursor_param`` = cursor; stops when
  the response has no cursor); ``next_url`` (``next_url_path`` = next: a URL in the response);
  ``link_header`` (RFC 8288 ``Link: <...>; rel="next"``). ``in: body`` sends the page parameters
  in a POST's JSON body instead of the query.
- ``auth``: ``{type: bearer, token_env}``, ``{type: basic, username | username_env,
  password_env}``, ``{type: api_key, name, in: header | query, value_env}``. Secrets are read from
  environment variables only, sent only to the origin of ``url``, and masked (``***``) in every
  log line and error message.
- ``retry``: ``max_attempts`` = 5, ``backoff`` = 0.5 (seconds, doubled per attempt, with jitter),
  ``max_backoff`` = 30, ``max_retry_after`` = 300. 429, 5xx, refused / reset connections and
  timeouts are retried; ``Retry-After`` (seconds or an HTTP date) is honoured.
- ``rate_limit``: requests per second (a token bucket; ``rate_limit_burst`` = 1).
- ``timeout``: seconds per request (30). ``verify``: false, or a CA bundle path (default: the
  system's).
- ``incremental``: ``cursor_field`` (dotted path in each record), ``param`` (the parameter that
  receives the last committed cursor, or ``initial`` on a first load), ``in: query | body``. Each
  batch's ``cursor`` is the largest ``cursor_field`` value extracted so far in the run.
- ``flatten``: true (default): nested objects become ``parent__child`` columns; false: STRUCTs.
  Arrays stay LISTs either way.
- ``max_pages``: stop after this many pages.

Of the loader's keys, ``lag`` is applied here (as the database connectors do): the parameter gets the
committed cursor minus ``lag`` (a number, or a duration such as ``PT1H`` / ``2 hours`` for ISO
timestamps and dates, sent back in the same text form), and the loader deduplicates the rows read
again by ``primary_key``. ``batch_size`` cuts pages into batches of that many records.

A column seen only as null (or ``[]`` / ``{}``) so far is left out of the batches until a value
gives it a type, as dlt does: DuckDB would otherwise create a column of type "NULL".

Modules: `config` (the keys above, checked), `auth` (credentials and what no message may show),
`transport` (connections, retries, rate limit, status errors), `paginators` (the pages of a run),
`records` (the records of an answer), `infer` (JSON records to Arrow, one schema for the run) and
`connector` (`HttpConnector`).
"""

from __future__ import annotations

from headwater.extract.http.connector import HttpConnector
from headwater.extract.http.paginators import _next_link

__all__ = ["HttpConnector", "_next_link"]
