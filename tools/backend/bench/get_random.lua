-- wrk: GET /users/<random id in 1..USERS> (USERS from the environment, default 100000).
local users = tonumber(os.getenv("USERS") or "100000")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/users/" .. math.random(1, users))
end
