-- wrk script: GET the URL, with an If-None-Match header when the first argument is not
-- "-"; print the same JSON summary as rotate.lua. A 304 is an expected answer here.
--
-- Usage: wrk ... -s bench/wrk/get.lua URL -- ETAG|-

local prepared = nil

function init(args)
  local headers = {}
  if args[1] and args[1] ~= "-" then
    headers["If-None-Match"] = args[1]
  end
  prepared = wrk.format("GET", wrk.path, headers)
end

function request()
  return prepared
end

-- the shared `done` (JSON summary), from beside this file
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")
