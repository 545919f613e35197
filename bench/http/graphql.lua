-- wrk script for bench/http: POSTs GraphQL requests read from a file (one
-- JSON body per line, all built by run.sh before the run), cycling through
-- them, and checks every response: HTTP 200, no "errors" key, and the
-- expected marker string in the body. Prints one JSON line at the end.
--
-- Usage: wrk ... -s graphql.lua URL -- BODIES_FILE MARKER
-- Extra headers (x-api-key) come from wrk's -H.

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

local requests = {}
local nreq = 0
local i = 0
local marker
bad = 0
bad_sample = ""

function init(args)
	local path = args[1]
	marker = args[2]
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/json"
	local f = assert(io.open(path, "r"))
	for line in f:lines() do
		if #line > 0 then
			nreq = nreq + 1
			requests[nreq] = wrk.format(nil, nil, nil, line)
		end
	end
	f:close()
	assert(nreq > 0, "no request bodies in " .. path)
	-- start each thread at a different place in the list
	i = math.random(nreq) - 1
end

function request()
	i = i % nreq + 1
	return requests[i]
end

function response(status, headers, body)
	if status ~= 200 or string.find(body, '"errors"', 1, true) or not string.find(body, marker, 1, true) then
		bad = bad + 1
		if bad_sample == "" then
			bad_sample = status .. " " .. string.sub(body, 1, 300)
		end
	end
end

local function esc(s)
	return (string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end))
end

function done(summary, latency, requests)
	local nbad, sample = 0, ""
	for _, t in ipairs(threads) do
		nbad = nbad + t:get("bad")
		local s = t:get("bad_sample")
		if sample == "" and s ~= "" then sample = s end
	end
	local e = summary.errors
	io.write(string.format(
		'{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
		'"write_errors":%d,"status_errors":%d,"timeouts":%d,"bad":%d,"bad_sample":"%s",' ..
		'"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
		summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
		e.timeout, nbad, esc(sample),
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency:percentile(99.9), latency.max, latency.mean))
end
