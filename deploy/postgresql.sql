-- 年检助手的 PostgreSQL 数据库和角色（最小权限）。以超级用户 postgres 执行一次：
--
--   sudo -u postgres psql -v password='换成一个长随机口令' -f /opt/nianjian/deploy/postgresql.sql
--
-- 可选：-v role=nianjian -v db=nianjian 改角色名和库名（默认都是 nianjian）。
-- 结果：角色只能登录这一个库，不是超级用户，不能建库、建角色；它拥有自己的模式（schema）
-- nianjian，表都建在那里（`nianjian db upgrade` 建表）；public 模式对任何人都不可写。
-- 对应的 DATABASE_URL：postgresql://nianjian:口令@127.0.0.1:5432/nianjian

\set ON_ERROR_STOP on
\if :{?role}
\else
  \set role nianjian
\endif
\if :{?db}
\else
  \set db nianjian
\endif
\if :{?password}
\else
  DO $$ BEGIN RAISE EXCEPTION '缺少口令：请加上 -v password=...（见本文件开头）'; END $$;
\endif

CREATE ROLE :"role" LOGIN PASSWORD :'password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE DATABASE :"db" OWNER postgres ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"role";

\connect :"db"
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA nianjian AUTHORIZATION :"role";
ALTER ROLE :"role" IN DATABASE :"db" SET search_path = nianjian;
