-- wrk script: POST /devices with the tutorial's OTAA body, a unique DevEUI per request.
-- Usage: wrk -t2 -c16 -d10s -s create.lua http://127.0.0.1:PORT -- <bearer token>
-- Each wrk thread takes its own 16-bit EUI prefix, so DevEUIs never repeat across threads.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("prefix", next_id)
  table.insert(threads, thread)
end

local token
local prefix
local counter = 0
local path = "/thingpark/wireless/rest/subscriptions/mine/devices?networkSubscriptionsHandlingMode=BASIC"

function init(args)
  token = args[1]
  if token == nil then
    error("pass the bearer token after --")
  end
  prefix = wrk.thread:get("prefix")
end

function request()
  counter = counter + 1
  local eui = string.format("%04X%012X", prefix, counter)
  local body = '{"connectivity":"LORAWAN","activation":"OTAA","EUI":"' .. eui ..
    '","model":{"ID":"SMTC/LoRaMoteA.1_EU"},"networkSubscription":{"nwGeolocalization":false,"prAllowed":false},' ..
    '"appServers":[{"ID":"TWA_199982747.1972.AS"}],"name":"bench ' .. eui ..
    '","appKey":"7374757A3FDD092947CE2DE9321C6040"}'
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
  }, body)
end

local statuses = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("requests: %d in %.2f s = %.0f/s\n", summary.requests,
    summary.duration / 1e6, summary.requests / (summary.duration / 1e6)))
end
