-- wrk script of bench_collector.py: every request carries its own idempotency key.
--
--   wrk -t1 -c10 -d10s -s collector.lua URL -- PATH KIND PREFIX API_KEY BATCH OCCURRED_AT
--
-- KIND is "answer" (an anonymous kiosk answer), "interaction" (one interaction of a new
-- customer) or "batch" (BATCH of them in {"items": [...]}). Keys and ids are PREFIX-N,
-- N counting from 1, so no two requests of a run, or of two runs, share one.
-- done() prints one line, "wrk-json {...}": requests answered, requests sent (the
-- difference was in flight when wrk stopped), errors, and latency percentiles in µs.

local path, kind, prefix, api_key, batch, occurred_at
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  path, kind, prefix, api_key = args[1], args[2], args[3], args[4]
  batch = tonumber(args[5] or "1")
  occurred_at = args[6] or "2026-12-07T10:00:00+05:30"
  sent = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if api_key ~= "-" then
    wrk.headers["X-Api-Key"] = api_key
  end
end

local function interaction(id)
  return '{"interaction":{"id":"' .. id .. '","touchpoint":"support_call","customer_id":"'
    .. id .. '","occurred_at":"' .. occurred_at .. '"},"customer":{"id":"' .. id
    .. '","email":"' .. id .. '@example.in","timezone":"Asia/Kolkata","country":"IN"}}'
end

local counter = 0

local function next_id()
  counter = counter + 1
  return prefix .. "-" .. counter
end

function request()
  sent = sent + 1
  local body
  if kind == "answer" then
    body = '{"survey":"store_exit","answers":{"visit_mood":' .. (counter % 5 + 1)
      .. ',"found_it":"yes"},"key":"' .. next_id()
      .. '","context":{"store":"BLR-0' .. (counter % 7 + 1) .. '","touchpoint":"store_exit"}}'
  elseif kind == "interaction" then
    body = interaction(next_id())
  else
    local items = {}
    for i = 1, batch do
      items[i] = interaction(next_id())
    end
    body = '{"items":[' .. table.concat(items, ",") .. ']}'
  end
  return wrk.format(nil, path, nil, body)
end

function done(summary, latency, requests)
  local total_sent = 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
  end
  local e = summary.errors
  io.write(string.format(
    'wrk-json {"requests": %d, "sent": %d, "duration_us": %d, "non_2xx_3xx": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, total_sent, summary.duration, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
