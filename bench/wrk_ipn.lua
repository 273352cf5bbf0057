-- wrk script of bench/web.py: POST pre-signed CoinPayments IPNs, each one once.
--
-- TOLLGATE_IPN_FILE holds one IPN per line: the HMAC-SHA512 hex signature, a space, the
-- form-encoded body (bench/web.py signs them with the IPN secret). Lines before
-- TOLLGATE_IPN_OFFSET (0-based) were sent by an earlier run; of the rest, wrk thread k of n sends
-- the k-th, (k+n)-th, ...; done() prints "ipn-sent <k> <count>" for each thread, so the bench knows which
-- IPNs were sent and can check that each was stored exactly once. Running out of lines is reported, never papered over by repeats.
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local count = tonumber(os.getenv("TOLLGATE_WRK_THREADS"))
  signatures, bodies, sent, short = {}, {}, 0, 0
  -- wrk 4 calls thread 0's request() once before any connection, to count pipelined requests
  -- (wrk.c main, script_verify_request): that call gets a body but is never sent
  verifying = index == 0
  local offset = tonumber(os.getenv("TOLLGATE_IPN_OFFSET") or "0")
  local line_number = 0
  for line in io.lines(os.getenv("TOLLGATE_IPN_FILE")) do
    if line_number >= offset and (line_number - offset) % count == index then
      local signature, body = line:match("^(%x+) (.+)$")
      table.insert(signatures, signature)
      table.insert(bodies, body)
    end
    line_number = line_number + 1
  end
end

function request()
  if verifying then
    verifying = false
    return wrk.format("POST", nil, {}, bodies[1])
  end
  if sent >= #bodies then
    short = short + 1
    return wrk.format("GET", "/healthz")
  end
  sent = sent + 1
  local headers = {}
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  headers["HMAC"] = signatures[sent]
  return wrk.format("POST", nil, headers, bodies[sent])
end

function done(summary, latency, requests)
  for k, thread in ipairs(threads) do
    io.write(string.format("ipn-sent %d %d\n", k - 1, thread:get("sent")))
    if thread:get("short") > 0 then
      io.write("ipn-short\n")
    end
  end
end
