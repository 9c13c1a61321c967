-- wrk script: POST a rotating list of requests, print a JSON summary at the end.
--
-- Usage: wrk ... -s bench/wrk/rotate.lua URL -- REQUESTS_FILE
-- REQUESTS_FILE has one request a line: "<Authorization value or ->\t<JSON body>".
-- Each wrk thread starts at a different offset so threads do not send in lockstep.
-- All requests are formatted once in init(): request() only returns a prepared string.

local requests = {}
local index = 0
local count = 0
local thread_no = 0

function setup(thread)
  thread:set("thread_no", thread_no)
  thread_no = thread_no + 1
end

function init(args)
  local path = args[1]
  local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local url_path = wrk.path
  for line in f:lines() do
    local tab = string.find(line, "\t", 1, true)
    if tab then
      local auth = string.sub(line, 1, tab - 1)
      local body = string.sub(line, tab + 1)
      local headers = { ["Content-Type"] = "application/json" }
      if auth ~= "-" then
        headers["Authorization"] = auth
      end
      count = count + 1
      requests[count] = wrk.format("POST", url_path, headers, body)
    end
  end
  f:close()
  assert(count > 0, "no requests in " .. path)
  index = ((thread_no or 0) * 7919) % count
end

function request()
  index = index % count + 1
  return requests[index]
end

-- the shared `done` (JSON summary), from beside this file
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")
