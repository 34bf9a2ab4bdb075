wrk.method = "POST"
wrk.body = '{"input":[1.1,2.2,3.3]}'
wrk.headers["Content-Type"] = "application/json"
