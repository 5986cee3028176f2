-- wrk script of bench/load.py: POST photos to one path, as multipart or as the raw body.
--
--   wrk -s bench/post_photos.lua URL -- PATH FORM TAG PHOTO...
--
-- FORM is "multipart" (the photo as the "front" part) or "raw" (Content-Type: image/jpeg).
-- TAG other than "0" puts a JPEG comment holding TAG, the thread and a counter after SOI in
-- every request: new bytes each time (a result-cache miss, also across runs with different
-- tags), the same pixels. done() prints one JSON line with
-- the counts by status and the latency histogram (microseconds, count) for bench/load.py to read.

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

local path, form, tag
local photos = {}
local counter = 0
local boundary = "amulet-bench-wrk-boundary"
local content_type, before, after
-- Requests without a tag are the same bytes every time: built once per photo.
local built = {}

local function host_header()
  local host = wrk.headers["Host"]
  if host then
    return host
  end
  host = wrk.host
  if host:find(":") then
    host = "[" .. host .. "]"
  end
  return wrk.port and (host .. ":" .. wrk.port) or host
end

function init(args)
  path, form, tag = args[1], args[2], args[3]
  for i = 4, #args do
    local file = assert(io.open(args[i], "rb"))
    local jpeg = file:read("*a")
    file:close()
    -- A tag's comment goes after SOI: the bytes after it are split off once, here.
    table.insert(photos, { soi = jpeg:sub(1, 2), rest = jpeg:sub(3) })
  end
  if form == "raw" then
    content_type, before, after = "image/jpeg", "", ""
  else
    content_type = "multipart/form-data; boundary=" .. boundary
    before = "--" .. boundary .. "\r\n"
      .. "Content-Disposition: form-data; name=\"front\"; filename=\"photo.jpg\"\r\n"
      .. "Content-Type: image/jpeg\r\n\r\n"
    after = "\r\n--" .. boundary .. "--\r\n"
  end
  -- One photo sent again and again: a static request, which wrk builds once and sends
  -- without calling Lua (no request() left to call).
  if tag == "0" and #photos == 1 then
    wrk.method = "POST"
    wrk.path = path
    wrk.headers["Host"] = host_header()
    wrk.headers["Content-Type"] = content_type
    wrk.body = before .. photos[1].soi .. photos[1].rest .. after
    request = nil
  end
end

-- The whole request in one concatenation (a 12 MP photo is copied once, not four times).
local function build(photo, comment)
  local length = #before + #photo.soi + #comment + #photo.rest + #after
  local head = "POST " .. path .. " HTTP/1.1\r\nHost: " .. host_header()
    .. "\r\nContent-Type: " .. content_type .. "\r\nContent-Length: " .. length .. "\r\n\r\n"
  return table.concat({ head, before, photo.soi, comment, photo.rest, after })
end

local function comment_for(n)
  local text = "amulet-bench " .. tag .. "-" .. thread_id .. "-" .. n
  local length = #text + 2
  return "\255\254" .. string.char(math.floor(length / 256), length % 256) .. text
end

function request()
  counter = counter + 1
  local index = (counter % #photos) + 1
  if tag ~= "0" then
    return build(photos[index], comment_for(counter))
  end
  built[index] = built[index] or build(photos[index], "")
  return built[index]
end

statuses = {}

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%s":%d', status, n))
  end
  local buckets = {}
  for i = 1, #latency do
    local value, count = latency(i)
    table.insert(buckets, string.format("[%d,%d]", value, count))
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"statuses":{%s},"connect":%d,"read":%d,"write":%d,'
      .. '"timeout":%d,"latency_us":[%s]}\n',
    summary.requests, summary.duration, table.concat(parts, ","), errors.connect, errors.read,
    errors.write, errors.timeout, table.concat(buckets, ",")))
end
