-- wrk: POST /users with a fresh address each time.
local n = 0
-- Each wrk thread has its own Lua state (same random seed): its table address tells them apart.
local tag = tostring(os.time()) .. tostring({}):gsub("[^%x]", "")
request = function()
  n = n + 1
  local body = string.format('{"email":"bench-%s-%d-%d@example.com","name":"Bench User"}', tag, math.random(1, 1000000000), n)
  return wrk.format("POST", "/users", {["Content-Type"] = "application/json"}, body)
end
