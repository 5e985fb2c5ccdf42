package redis_test

const aclUser = "yokedcache on >password ~yokedcache:* +@read +@write +del +expire"
