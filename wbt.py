import time, sys, wandb
t=time.time()
run = wandb.init(project="t2m", mode="offline", dir="/tmp/explore/prof/wbt", id="t2m-x"+sys.argv[1], resume="allow", reinit="create_new", settings=wandb.Settings(console="off", silent=True, init_timeout=20))
t1=time.time(); print("init", round(t1-t,1))
run.summary.update({"a":1}); run.finish(); print("finish", round(time.time()-t1,1))
