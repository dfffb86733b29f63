print("berth-sim")
